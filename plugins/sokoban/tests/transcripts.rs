//! Snapshot transcripts: what the agent sees and earns, pinned.

use lamer_sdk::{Task, Transcript};
use sokoban::Sokoban;

fn record(config: &str, split: &str, index: u64, actions: &[&str]) -> String {
    Transcript::record::<Sokoban>(config, &Task::new(split, index), actions)
        .unwrap()
        .to_string()
}

#[test]
fn expert_wins_test_0() {
    let t = Transcript::record_expert::<Sokoban>("{}", &Task::new("test", 0)).unwrap();
    insta::assert_snapshot!(t.to_string());
}

#[test]
fn expert_wins_ood_1_with_three_boxes() {
    let t = Transcript::record_expert::<Sokoban>("{}", &Task::new("ood", 1)).unwrap();
    insta::assert_snapshot!(t.to_string());
}

/// test/3: an unparsable action, a still, then a push into the left wall.
#[test]
fn invalid_still_then_deadlock_test_3() {
    insta::assert_snapshot!(record(
        "{}",
        "test",
        3,
        &["I go north", "still, Still", "down, left, left"]
    ));
}

/// test/1 solved by the first move of the third turn: default (sum, stop at
/// the win) vs faithful (all moves, last reward only).
#[test]
fn win_mid_turn_default_vs_faithful_test_1() {
    let actions = [
        "right, right, left",
        "left, down, right",
        "right, left, left",
    ];
    insta::assert_snapshot!("win_default", record("{}", "test", 1, &actions));
    insta::assert_snapshot!(
        "win_faithful",
        record(r#"{"faithful": true}"#, "test", 1, &actions)
    );
}

/// Runs out of turns on train/5 without winning.
#[test]
fn truncated_after_seven_turns_train_5() {
    let actions = [
        "left", "right", "left", "right", "left", "right", "left", "right",
    ];
    insta::assert_snapshot!(record("{}", "train", 5, &actions));
}
