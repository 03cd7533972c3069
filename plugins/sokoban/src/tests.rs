//! Unit tests of the turn rules and rewards on hand-made rooms.

use super::*;

fn env(text: &str, faithful: bool) -> Sokoban {
    let config = Config {
        faithful,
        ..Config::default()
    };
    Sokoban::from_room(config, Room::parse(text).unwrap()).unwrap()
}

fn info<'a>(step: &'a Step, key: &str) -> Option<&'a str> {
    step.info
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.as_str())
}

/// One box left of its target.
const ONE_BOX: &str = "0: # # # # # #\n1: # P X O _ #\n2: # _ _ _ _ #\n3: # # # # # #";
/// Pushing the box up puts it against the top wall, away from its target.
const DEADLOCK: &str =
    "0: # # # # # #\n1: # _ _ _ _ #\n2: # _ X _ O #\n3: # _ P _ _ #\n4: # # # # # #";
/// Two boxes: one on its target, one next to its target.
const TWO_BOXES: &str =
    "0: # # # # # #\n1: # P √ _ _ #\n2: # _ X O _ #\n3: # _ _ _ _ #\n4: # # # # # #";
/// Two boxes, none on target.
const TWO_OFF: &str =
    "0: # # # # # #\n1: # P X O _ #\n2: # _ X _ O #\n3: # _ _ _ _ #\n4: # # # # # #";

#[test]
fn win_pays_move_penalty_box_bonus_and_finish_bonus() {
    let mut e = env(ONE_BOX, false);
    let s = e.step("right").unwrap();
    assert_eq!(s.reward, 10.9);
    assert!(s.won && s.terminated && s.action_valid);
    assert_eq!(s.action_echo, "['right']");
    assert!(s.observation.contains("1: # _ P √ _ #"));
}

#[test]
fn default_mode_stops_at_the_win_and_sums_rewards() {
    let mut e = env(ONE_BOX, false);
    let s = e.step("down, up, right, left").unwrap();
    // down −0.1, up −0.1, right 10.9; the fourth move is beyond the limit.
    assert_eq!(s.reward, 10.7);
    assert!(s.won && s.terminated);
    assert_eq!(info(&s, "moves_applied"), Some("3"));
    let mut e = env(ONE_BOX, false);
    let s = e.step("right, left, down").unwrap();
    assert_eq!(s.reward, 10.9);
    assert_eq!(info(&s, "moves_applied"), Some("1"));
    assert!(
        s.observation.contains("1: # _ P √ _ #"),
        "no move after the win"
    );
}

#[test]
fn faithful_mode_applies_every_move_and_returns_the_last_reward() {
    let mut e = env(ONE_BOX, true);
    let s = e.step("right, left, down").unwrap();
    // After the win each harmless move earns −0.1 + 10.
    assert_eq!(s.reward, 9.9);
    assert!(s.won && s.terminated);
    assert_eq!(info(&s, "moves_applied"), Some("3"));
    assert!(s.observation.contains("2: # P _ _ _ #"));
}

#[test]
fn faithful_mode_can_win_and_then_deadlock() {
    let mut e = env(ONE_BOX, true);
    let s = e.step("right, right").unwrap();
    // The second push moves the box off the target into a dead cell.
    assert_eq!(s.reward, -1.1);
    assert!(s.won, "won is the OR over the moves");
    assert!(s.terminated);
    assert_eq!(info(&s, "deadlock"), Some("true"));
    // Default mode never plays the second push.
    let mut e = env(ONE_BOX, false);
    let s = e.step("right, right").unwrap();
    assert_eq!(s.reward, 10.9);
    assert_eq!(info(&s, "deadlock"), None);
}

#[test]
fn faithful_still_after_a_win_is_not_done() {
    let mut e = env(ONE_BOX, true);
    let s = e.step("right, still").unwrap();
    assert_eq!(s.reward, -0.1);
    assert!(s.won && !s.terminated);
}

#[test]
fn deadlock_ends_the_episode_as_a_loss() {
    let mut e = env(DEADLOCK, false);
    let s = e.step("up, down, down").unwrap();
    assert_eq!(s.reward, -0.1);
    assert!(s.terminated && !s.won && !s.truncated);
    assert_eq!(info(&s, "deadlock"), Some("true"));
    assert_eq!(info(&s, "moves_applied"), Some("1"));
}

#[test]
fn box_on_and_off_target_rewards() {
    let mut e = env(TWO_OFF, false);
    let s = e.step("right").unwrap();
    assert_eq!(s.reward, 0.9);
    assert!(!s.terminated && !s.won);
    assert_eq!(info(&s, "boxes_on_target"), Some("1"));
    let mut e = env(TWO_BOXES, false);
    let s = e.step("right").unwrap();
    assert_eq!(s.reward, -1.1);
    assert!(!s.terminated, "the box can be pushed back");
    let mut e = env(TWO_BOXES, false);
    let s = e.step("down, right").unwrap();
    assert_eq!(s.reward, 10.8);
    assert!(s.won);
}

#[test]
fn still_and_invalid_actions_are_no_ops() {
    let mut e = env(TWO_OFF, false);
    let before = e.room().unwrap().render();
    let s = e.step("still").unwrap();
    assert_eq!((s.reward, s.action_valid), (-0.1, true));
    assert_eq!(s.observation, before);
    assert_eq!(s.action_echo, "['still']");
    let s = e.step("jump over the box").unwrap();
    assert_eq!((s.reward, s.action_valid), (-0.1, false));
    assert_eq!(s.observation, before);
    assert_eq!(s.action_echo, "['still']");
    let s = e.step("still, still, still").unwrap();
    assert_eq!(s.reward, -0.3);
    assert!(!s.terminated);
    assert_eq!(e.moves, 0, "no-ops do not count toward max_moves");
}

#[test]
fn walking_into_a_wall_still_costs_a_move() {
    let mut e = env(TWO_OFF, false);
    let s = e.step("up").unwrap();
    assert_eq!(s.reward, -0.1);
    assert_eq!(e.moves, 1);
}

#[test]
fn max_moves_truncates() {
    let config = Config {
        max_moves: 2,
        ..Config::default()
    };
    let mut e = Sokoban::from_room(config, Room::parse(TWO_OFF).unwrap()).unwrap();
    let s = e.step("down, up, down").unwrap();
    assert!(s.truncated && !s.terminated);
    assert_eq!(info(&s, "moves_applied"), Some("2"));
}

#[test]
fn expert_names_the_next_moves() {
    let e = env(TWO_OFF, false);
    let action = e.expert_action().unwrap();
    let moves = parse_moves(&action, 3);
    assert_eq!(moves.len(), 3, "{action}");
    assert_eq!(action, "right, left, down");
    let mut e2 = env(TWO_OFF, false);
    let s1 = e2.step(&action).unwrap();
    assert!(!s1.terminated);
    let s2 = e2.step(&e2.expert_action().unwrap()).unwrap();
    assert!(s2.won, "5-move solution in two turns");
    let mut e = env(ONE_BOX, false);
    assert_eq!(e.expert_action().as_deref(), Some("right"));
    e.step("right").unwrap();
    assert_eq!(e.expert_action(), None, "nothing to do once solved");
}

#[test]
fn config_is_validated() {
    for bad in [
        r#"{"rows": 4}"#,
        r#"{"boxes": 0}"#,
        r#"{"moves_per_turn": 0}"#,
        r#"{"min_solution_length": 9, "max_solution_length": 3}"#,
        r#"{"search_depth": 0}"#,
        r#"{"size": 6}"#,
    ] {
        assert!(
            matches!(
                Session::<Sokoban>::open(bad).err(),
                Some(EnvError::InvalidConfig(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn splits_map_to_seeds_and_ood_has_three_boxes() {
    assert_eq!(task_seed(&Task::new("train", 5)), 5);
    assert_eq!(task_seed(&Task::new("test", 5)), (1 << 16) + 5);
    assert_eq!(task_seed(&Task::new("ood", 5)), (1 << 16) + 5);
    let mut s = Session::<Sokoban>::open("{}").unwrap();
    let r = s.reset(&Task::new("ood", 3)).unwrap();
    assert_eq!(r.observation.matches(['X']).count(), 3);
    let r = s.reset(&Task::new("test", 3)).unwrap();
    assert_eq!(r.observation.matches(['X']).count(), 2);
    assert!(s.reset(&Task::new("train", 1 << 16)).is_err());
}

#[test]
fn prompt_has_legend_rules_and_format() {
    let p = Sokoban::open(Config::default()).unwrap().prompt();
    for glyph in ["`#`", "`_`", "`O`", "`X`", "`P`", "`√`", "`S`"] {
        assert!(p.rules.contains(glyph), "{glyph}");
    }
    assert_eq!(p.initial_state_label, "The initial state of the game is:");
    assert!(p.action_instruction.contains("THREE"));
    assert!(
        p.action_instruction
            .contains("<action>left, down, down</action>")
    );
    assert!(!p.list_admissible_actions);
    assert_eq!(p.history, HistoryWindow::default());
    assert_eq!(Sokoban::brief_observation("0: # #"), "...");
}
