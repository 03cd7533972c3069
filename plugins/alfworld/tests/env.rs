//! The environment through the SDK harness: transcripts of every task type, the expert on
//! every split, config and data errors, and invariants under arbitrary commands.

use alfworld::generator::{Split, generate};
use alfworld::{AlfWorld, COMMAND_CAP};
use lamer_sdk::{EnvError, Environment, Session, Task, Transcript};
use proptest::prelude::*;

fn session(config: &str) -> Session<AlfWorld> {
    Session::open(config).unwrap()
}

/// The first index of a split whose game has the given task type.
fn first_of_type(split: &str, name: &str) -> u64 {
    (0..200)
        .find(|&i| {
            generate(Split::parse(split).unwrap(), i)
                .unwrap()
                .task_type
                .name()
                == name
        })
        .unwrap()
}

#[test]
fn expert_transcripts_of_every_task_type() {
    for (split, name) in [
        ("train", "pick_and_place_simple"),
        ("train", "look_at_obj_in_light"),
        ("train", "pick_clean_then_place_in_recep"),
        ("train", "pick_heat_then_place_in_recep"),
        ("ood", "pick_cool_then_place_in_recep"),
        ("ood", "pick_two_obj_and_place"),
    ] {
        let task = Task::new(split, first_of_type(split, name));
        let t = Transcript::record_expert::<AlfWorld>(r#"{"max_turns": 50}"#, &task).unwrap();
        assert!(t.won(), "{name}");
        assert_eq!(t.total_reward(), 10.0);
        assert_eq!(
            t.reset
                .info
                .iter()
                .find(|p| p.key == "task_type")
                .map(|p| p.value.as_str()),
            Some(name)
        );
        insta::assert_snapshot!(name, t.to_string());
    }
}

#[test]
fn invalid_commands_transcript() {
    let actions = [
        "go to the kitchen",
        "look",
        "Look",
        "  inventory  ",
        "examine apple 1",
        "help",
    ];
    let t = Transcript::record::<AlfWorld>("{}", &Task::new("test", 3), &actions).unwrap();
    insta::assert_snapshot!("invalid_commands", t.to_string());
    let admissible = |i: usize| t.steps[i].result.info_value("admissible") == Some("true");
    // Every command is a well-formed action (officially only missing tags
    // are invalid); the game's admissibility is reported beside it.
    assert!(t.steps.iter().all(|s| s.result.action_valid));
    assert!(!admissible(0));
    assert!(admissible(1));
    assert!(!admissible(2), "commands match exactly");
    assert!(admissible(3), "after trimming");
    assert!(admissible(5), "help is admissible though not listed");
    assert_eq!(t.steps[0].result.observation, "Nothing happens.");
}

#[test]
fn expert_solves_every_sampled_game_within_the_cap() {
    for split in ["train", "test", "ood"] {
        for index in (0..500).step_by(5) {
            let task = Task::new(split, index);
            let t = Transcript::record_expert::<AlfWorld>(r#"{"max_turns": 50}"#, &task).unwrap();
            assert!(t.won(), "{task}");
            // No candidate was redrawn because the expert failed on it: the sample measures
            // the expert, not the generator's filter.
            let generated = generate(Split::parse(split).unwrap(), index).unwrap();
            assert_eq!(generated.unsolved_candidates, 0, "{task}");
            assert!(t.steps.len() <= COMMAND_CAP as usize, "{task}");
        }
    }
}

#[test]
fn splits_have_their_task_types_and_scenes() {
    let catalog = alfworld::data::Catalog::get().unwrap();
    for (split, types, scenes) in [
        (
            Split::Train,
            [
                "pick_and_place_simple",
                "look_at_obj_in_light",
                "pick_clean_then_place_in_recep",
                "pick_heat_then_place_in_recep",
            ]
            .as_slice(),
            &catalog.train_scene_numbers,
        ),
        (
            Split::Test,
            [
                "pick_and_place_simple",
                "look_at_obj_in_light",
                "pick_clean_then_place_in_recep",
                "pick_heat_then_place_in_recep",
            ]
            .as_slice(),
            &catalog.test_scene_numbers,
        ),
        (
            Split::Ood,
            ["pick_cool_then_place_in_recep", "pick_two_obj_and_place"].as_slice(),
            &catalog.test_scene_numbers,
        ),
    ] {
        let mut seen = std::collections::BTreeSet::new();
        for index in 0..60 {
            let g = generate(split, index).unwrap();
            let number: u32 = g.scene.trim_start_matches("FloorPlan").parse().unwrap();
            assert!(scenes.contains(&number), "{split:?}/{index}: {}", g.scene);
            assert!(types.contains(&g.task_type.name()), "{split:?}/{index}");
            seen.insert(g.task_type.name());
        }
        assert_eq!(
            seen.len(),
            types.len(),
            "{split:?} covers all its task types"
        );
    }
}

#[test]
fn generation_is_deterministic() {
    assert_eq!(
        generate(Split::Train, 17).unwrap(),
        generate(Split::Train, 17).unwrap()
    );
    assert_ne!(
        generate(Split::Train, 17).unwrap().file,
        generate(Split::Train, 18).unwrap().file
    );
}

#[test]
fn fifty_commands_truncate_the_attempt() {
    let mut s = session(r#"{"max_turns": 100}"#);
    s.reset(&Task::new("train", 0)).unwrap();
    for k in 1..=COMMAND_CAP {
        let r = s.step("jump").unwrap();
        assert_eq!(r.observation, "Nothing happens.");
        assert_eq!(r.truncated, k == COMMAND_CAP, "step {k}");
        assert!(!r.terminated);
    }
    assert_eq!(s.step("look"), Err(EnvError::EpisodeOver));
}

#[test]
fn default_turn_limit_is_ten() {
    let mut s = session("{}");
    s.reset(&Task::new("test", 0)).unwrap();
    for _ in 0..9 {
        assert!(!s.step("look").unwrap().done());
    }
    assert!(s.step("look").unwrap().truncated);
}

#[test]
fn config_and_data_errors_are_clear() {
    assert!(matches!(
        Session::<AlfWorld>::open(r#"{"games": "official"}"#).err(),
        Some(EnvError::InvalidConfig(m)) if m.contains("data-dir")
    ));
    assert!(matches!(
        Session::<AlfWorld>::open(r#"{"games": "data-dir", "data_root": "/nonexistent"}"#).err(),
        Some(EnvError::DataUnavailable(_))
    ));
    let mut s = session("{}");
    assert!(matches!(
        s.reset(&Task::new("valid", 0)),
        Err(EnvError::UnknownSplit(_))
    ));
    assert!(matches!(
        s.reset(&Task::new("ood", 500)),
        Err(EnvError::TaskOutOfRange(_))
    ));
}

#[test]
fn prompt_pieces_follow_lamer() {
    let s = session("{}");
    let p = s.prompt();
    assert_eq!(
        p.role,
        "You are an expert agent operating in the ALFRED Embodied Environment."
    );
    assert!(p.list_admissible_actions);
    assert_eq!(p.history.play_turns, 15);
    assert_eq!(p.history.play_full_observations, 15);
    assert_eq!(
        AlfWorld::brief_observation("You arrive at fridge 1."),
        "You arrive at fridge 1."
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_commands_never_fail_and_restart_is_exact(
        index in 0u64..500,
        picks in proptest::collection::vec((any::<bool>(), any::<u16>(), ".{0,30}"), 1..30),
    ) {
        let mut s = session(r#"{"max_turns": 60}"#);
        let start = s.reset(&Task::new("test", index)).unwrap();
        let first_admissible = s.admissible_actions().unwrap();
        for (use_admissible, k, text) in &picks {
            if s.is_over() { break; }
            let actions = s.admissible_actions().unwrap();
            prop_assert!(actions.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
            prop_assert!(!actions.iter().any(|a| a == "help"));
            let command = if *use_admissible { actions[*k as usize % actions.len()].clone() } else { text.clone() };
            let r = s.step(&command).unwrap();
            if *use_admissible { prop_assert!(r.action_valid); }
            prop_assert!(r.reward == 0.0 || (r.reward == 10.0 && r.won && r.terminated));
        }
        prop_assert_eq!(s.restart().unwrap(), start);
        prop_assert_eq!(s.admissible_actions().unwrap(), first_admissible);
    }
}
