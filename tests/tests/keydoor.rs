//! The keydoor example through the sandbox: the same transcripts as natively,
//! deterministic, pinned by snapshots, and cheap enough for many sessions.

use keydoor::KeyDoor;
use lamer_plugin::{EnvFactory, NativeEnv, Plugin, Runtime, RuntimeConfig, SandboxLimits};
use lamer_sdk::{EnvError, Task, Transcript};
use lamer_tests::{plugin_path, record_expert_transcript, record_transcript};

fn keydoor_plugin() -> Plugin {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: None,
        ..RuntimeConfig::default()
    })
    .unwrap();
    runtime
        .load(&plugin_path("keydoor"), SandboxLimits::default())
        .unwrap()
}

/// (config, task, actions) episodes covering wins, misses, invalid actions
/// and truncation on both splits.
fn episodes() -> Vec<(&'static str, Task, Vec<&'static str>)> {
    vec![
        (
            "{}",
            Task::new("train", 0),
            vec!["open 1", "open 2", "open 3"],
        ),
        ("{}", Task::new("train", 1), vec!["open 4", "banana", "3"]),
        ("{}", Task::new("test", 5), vec!["open 2", "open 2"]),
        (
            r#"{"doors": 9, "max_turns": 9}"#,
            Task::new("train", 42),
            vec!["1", "2", "3", "4", "5", "6", "7", "8", "9"],
        ),
        (
            r#"{"doors": 3, "max_turns": 1}"#,
            Task::new("test", 65_000),
            vec!["open 3", "open 1"],
        ),
    ]
}

#[test]
fn wasm_transcripts_equal_native_transcripts() {
    let plugin = keydoor_plugin();
    let native = NativeEnv::<KeyDoor>::new();
    for (config, task, actions) in episodes() {
        let wasm = record_transcript(&plugin, config, &task, &actions).unwrap();
        let native_via_trait = record_transcript(&native, config, &task, &actions).unwrap();
        let native_sdk = Transcript::record::<KeyDoor>(config, &task, &actions).unwrap();
        assert_eq!(wasm, native_via_trait, "{config} {task}");
        assert_eq!(wasm, native_sdk, "{config} {task}");
        assert!(!wasm.steps.is_empty());
    }
}

#[test]
fn expert_transcripts_equal_and_win() {
    let plugin = keydoor_plugin();
    for index in 0..20 {
        let task = Task::new("train", index);
        let wasm = record_expert_transcript(&plugin, "{}", &task).unwrap();
        let native = Transcript::record_expert::<KeyDoor>("{}", &task).unwrap();
        assert_eq!(wasm, native);
        assert!(wasm.won(), "the expert wins {task}");
    }
}

#[test]
fn wasm_runs_are_deterministic() {
    let plugin = keydoor_plugin();
    let second = keydoor_plugin();
    for (config, task, actions) in episodes() {
        let a = record_transcript(&plugin, config, &task, &actions).unwrap();
        let b = record_transcript(&plugin, config, &task, &actions).unwrap();
        let c = record_transcript(&second, config, &task, &actions).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
    }
}

#[test]
fn transcripts_match_snapshots() {
    let plugin = keydoor_plugin();
    insta::with_settings!({ snapshot_path => "../snapshots", prepend_module_to_snapshot => false }, {
        for (i, (config, task, actions)) in episodes().into_iter().enumerate() {
            let transcript = record_transcript(&plugin, config, &task, &actions).unwrap();
            insta::assert_snapshot!(format!("keydoor_episode_{i}"), transcript.to_string());
        }
        let expert = record_expert_transcript(&plugin, "{}", &Task::new("test", 7)).unwrap();
        insta::assert_snapshot!("keydoor_expert_test_7", expert.to_string());
    });
}

#[test]
fn info_prompt_and_queries_equal_native() {
    let plugin = keydoor_plugin();
    let native = NativeEnv::<KeyDoor>::new();
    assert_eq!(plugin.info(), native.info());
    assert_eq!(
        plugin.brief_observation("Door 1: closed").unwrap(),
        native.brief_observation("Door 1: closed").unwrap()
    );
    let mut wasm = plugin.open(r#"{"doors": 5}"#).unwrap();
    let mut nat = native.open(r#"{"doors": 5}"#).unwrap();
    assert_eq!(wasm.prompt().unwrap(), nat.prompt().unwrap());
    let task = Task::new("train", 11);
    assert_eq!(wasm.reset(&task).unwrap(), nat.reset(&task).unwrap());
    assert_eq!(
        wasm.admissible_actions().unwrap(),
        nat.admissible_actions().unwrap()
    );
    assert_eq!(wasm.expert_action().unwrap(), nat.expert_action().unwrap());
    assert_eq!(wasm.step("open 1").unwrap(), nat.step("open 1").unwrap());
    assert_eq!(wasm.restart().unwrap(), nat.restart().unwrap());
    assert_eq!(
        wasm.admissible_actions().unwrap(),
        nat.admissible_actions().unwrap()
    );
}

#[test]
fn environment_errors_arrive_as_values_and_keep_the_session() {
    use lamer_plugin::SessionError;
    let plugin = keydoor_plugin();
    let bad_config = plugin.open(r#"{"doors": 1}"#).err().unwrap();
    assert!(matches!(
        bad_config,
        SessionError::Env(EnvError::InvalidConfig(_))
    ));
    let unknown_key = plugin.open(r#"{"windows": 2}"#).err().unwrap();
    assert!(matches!(
        unknown_key,
        SessionError::Env(EnvError::InvalidConfig(_))
    ));

    let mut session = plugin.open("{}").unwrap();
    assert_eq!(
        session.step("open 1").unwrap_err(),
        SessionError::Env(EnvError::NotReset)
    );
    let unknown = session.reset(&Task::new("dev", 0)).unwrap_err();
    assert!(matches!(
        unknown,
        SessionError::Env(EnvError::UnknownSplit(_))
    ));
    assert!(!unknown.is_fatal());
    // The session survived the errors.
    session.reset(&Task::new("train", 3)).unwrap();
    session.step("open 1").unwrap();
}

#[test]
fn a_thousand_sessions_from_one_plugin() {
    let plugin = keydoor_plugin();
    let mut sessions: Vec<_> = (0..1000).map(|_| plugin.open("{}").unwrap()).collect();
    let mut native = NativeEnv::<KeyDoor>::new().open("{}").unwrap();
    for (i, session) in sessions.iter_mut().enumerate() {
        let task = Task::new("train", i as u64);
        assert_eq!(session.reset(&task).unwrap(), native.reset(&task).unwrap());
    }
    // All stay live and independent: step each after all were reset.
    for (i, session) in sessions.iter_mut().enumerate() {
        native.reset(&Task::new("train", i as u64)).unwrap();
        assert_eq!(
            session.step("open 2").unwrap(),
            native.step("open 2").unwrap()
        );
    }
}

#[test]
fn sessions_work_from_other_threads() {
    let plugin = keydoor_plugin();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let plugin = plugin.clone();
            std::thread::spawn(move || {
                let task = Task::new("train", t);
                record_transcript(&plugin, "{}", &task, &["open 1", "open 2"]).unwrap()
            })
        })
        .collect();
    for (t, handle) in handles.into_iter().enumerate() {
        let transcript = handle.join().unwrap();
        let native = Transcript::record::<KeyDoor>(
            "{}",
            &Task::new("train", t as u64),
            &["open 1", "open 2"],
        )
        .unwrap();
        assert_eq!(transcript, native);
    }
}
