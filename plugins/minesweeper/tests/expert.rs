//! The expert never opens a cell its inference proves to be a mine, and wins
//! a stable share of test tasks within 7 turns. The 1,000-task win rate is in
//! BENCHMARKS.md.

use lamer_sdk::{Task, Transcript};
use minesweeper::MineSweeper;

#[test]
fn expert_win_rate_on_200_test_tasks() {
    let mut wins = 0;
    let mut mines = 0;
    for index in 0..200 {
        let t = Transcript::record_expert::<MineSweeper>("{}", &Task::new("test", index)).unwrap();
        assert!(t.steps.len() <= 7);
        for s in &t.steps {
            assert_ne!(s.result.reward, -1.0, "the expert only opens hidden cells");
        }
        wins += usize::from(t.won());
        mines += usize::from(t.steps.last().is_some_and(|s| s.result.reward == -0.1));
    }
    println!("expert: {wins} wins, {mines} mines of 200 test tasks");
    // Measured 1,000-task figures are in BENCHMARKS.md; this floor catches a
    // broken solver (a random clicker wins almost never in 7 turns).
    assert!(wins >= 100, "expert won only {wins} of 200");
    assert!(mines <= 40, "expert hit {mines} mines");
}

#[test]
fn expert_plays_safe_when_safety_is_proven() {
    // On ood-large the first moves after a cascade are usually forced-safe;
    // over 50 tasks the expert must hit fewer mines than it wins.
    let (mut wins, mut mines) = (0, 0);
    for index in 0..50 {
        let t = Transcript::record_expert::<MineSweeper>(
            r#"{"max_turns": 40}"#,
            &Task::new("ood-large", index),
        )
        .unwrap();
        wins += usize::from(t.won());
        mines += usize::from(!t.won());
    }
    assert!(wins > mines * 3, "wins {wins}, losses {mines}");
}
