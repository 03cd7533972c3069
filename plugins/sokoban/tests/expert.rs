//! The BFS expert solves the test split within LaMer's budget of 7 turns × 3
//! moves. The 1,000-task figure is in BENCHMARKS.md.

use lamer_sdk::{Task, Transcript};
use sokoban::Sokoban;

#[test]
fn expert_wins_at_least_99_percent_of_200_test_tasks() {
    let mut wins = 0;
    for index in 0..200 {
        let t = Transcript::record_expert::<Sokoban>("{}", &Task::new("test", index)).unwrap();
        assert!(t.steps.len() <= 7);
        if t.won() {
            wins += 1;
            assert!(t.steps.last().unwrap().result.terminated);
        }
    }
    println!("expert won {wins} of 200 test tasks");
    assert!(wins >= 198, "expert won only {wins} of 200");
}

#[test]
fn expert_never_deadlocks() {
    for index in 0..50 {
        let t = Transcript::record_expert::<Sokoban>("{}", &Task::new("ood", index)).unwrap();
        for s in &t.steps {
            assert_ne!(s.result.info_value("deadlock"), Some("true"), "ood/{index}");
        }
    }
}
