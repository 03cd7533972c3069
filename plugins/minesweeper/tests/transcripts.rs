//! Snapshot transcripts: what the agent sees and earns, pinned.

use lamer_sdk::Session;
use lamer_sdk::{Task, Transcript};
use minesweeper::MineSweeper;
use minesweeper::board::Shown;

fn record(split: &str, index: u64, actions: &[&str]) -> String {
    Transcript::record::<MineSweeper>("{}", &Task::new(split, index), actions)
        .unwrap()
        .to_string()
}

#[test]
fn expert_test_0() {
    let t = Transcript::record_expert::<MineSweeper>("{}", &Task::new("test", 0)).unwrap();
    insta::assert_snapshot!(t.to_string());
}

#[test]
fn expert_ood_large_2() {
    let t = Transcript::record_expert::<MineSweeper>("{}", &Task::new("ood-large", 2)).unwrap();
    insta::assert_snapshot!(t.to_string());
}

/// Invalid text, an out-of-range cell, an already open cell, then the first
/// mine in row-major order (found from the board, so the snapshot pins it).
#[test]
fn invalid_out_of_range_open_then_mine_test_2() {
    let mut session = Session::<MineSweeper>::open("{}").unwrap();
    session.reset(&Task::new("test", 2)).unwrap();
    let board = session.env().board().unwrap();
    let cell_text = |c: usize| format!("({}, {})", c / 6 + 1, c % 6 + 1);
    let open = (0..36).find(|&c| board.shown(c) == Shown::Open).unwrap();
    let mine = (0..36).find(|&c| board.is_mine(c)).unwrap();
    let (open, mine) = (
        cell_text(open),
        format!("<think>risky</think> {}", cell_text(mine)),
    );
    insta::assert_snapshot!(record(
        "test",
        2,
        &["I reveal the corner", "(7, 1)", &open, &mine]
    ));
}

/// A first click that would have won at once is re-drawn (test/1), and a
/// single cascade then wins.
#[test]
fn redrawn_first_click_then_win_test_1() {
    insta::assert_snapshot!(record("test", 1, &["(1,1)"]));
}
