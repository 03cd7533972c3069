//! Invariants over many seeds and arbitrary agent text.

use lamer_sdk::{Session, Task};
use minesweeper::board::Shown;
use minesweeper::{MineSweeper, deal, task_shape};
use proptest::prelude::*;

const REWARDS: [f64; 5] = [-1.0, -0.1, 0.5, 2.0, 10.0];

fn split() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("train"),
        Just("test"),
        Just("ood-mines"),
        Just("ood-large")
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn reset_is_safe_consistent_and_never_decided(split in split(), index in 0u64..(1 << 16)) {
        let mut s = Session::<MineSweeper>::open("{}").unwrap();
        let task = Task::new(split, index);
        let reset = s.reset(&task).unwrap();
        let board = s.env().board().unwrap();
        let shape = task_shape(&minesweeper::Config::default(), &task);
        prop_assert_eq!(board.mines(), shape.mines);
        prop_assert!(!board.is_won() && !board.is_lost());
        // The first click is open and safe; numbers match the mines.
        let opened: Vec<usize> = (0..board.cells()).filter(|&c| board.shown(c) == Shown::Open).collect();
        prop_assert!(!opened.is_empty());
        for cell in 0..board.cells() {
            let around = board.neighbors(cell).filter(|&n| board.is_mine(n)).count();
            prop_assert_eq!(board.count(cell) as usize, around);
            if board.shown(cell) == Shown::Open {
                prop_assert!(!board.is_mine(cell));
            }
        }
        let (_, click, _) = deal(minesweeper::task_seed(&task), shape);
        prop_assert!(!board.is_mine(click));
        prop_assert_eq!(board.shown(click), Shown::Open);
        // The observation shows exactly the open cells' numbers.
        let glyphs: Vec<char> = reset.observation.lines()
            .flat_map(|l| l.split_once(": ").unwrap().1.split(' ').map(|g| g.chars().next().unwrap()).collect::<Vec<_>>())
            .collect();
        prop_assert_eq!(glyphs.len(), board.cells());
        for (cell, g) in glyphs.iter().enumerate() {
            let expected = match board.shown(cell) {
                Shown::Hidden => '?',
                Shown::Exploded => '*',
                Shown::Open if board.count(cell) == 0 => '.',
                Shown::Open => char::from(b'0' + board.count(cell)),
            };
            prop_assert_eq!(*g, expected);
        }
    }

    #[test]
    fn arbitrary_text_never_errs_and_rewards_are_allowed(
        index in 0u64..100_000,
        actions in proptest::collection::vec(
            prop_oneof![".{0,30}", "\\( ?[0-9]{1,2} ?, ?[0-9]{1,2} ?\\)"],
            1..10,
        ),
    ) {
        let mut s = Session::<MineSweeper>::open("{}").unwrap();
        s.reset(&Task::new("test", index)).unwrap();
        for a in &actions {
            if s.is_over() { break; }
            let r = s.step(a).unwrap();
            prop_assert!(REWARDS.contains(&r.reward), "reward {}", r.reward);
            prop_assert_eq!(r.won, r.reward == 10.0);
            prop_assert_eq!(r.terminated, r.reward == 10.0 || r.reward == -0.1);
        }
    }

    #[test]
    fn restart_reproduces_the_initial_board_and_dynamics(
        index in 0u64..100_000,
        cells in proptest::collection::vec((1u8..=6, 1u8..=6), 1..7),
    ) {
        let mut s = Session::<MineSweeper>::open("{}").unwrap();
        let first = s.reset(&Task::new("train", index % (1 << 16))).unwrap();
        let actions: Vec<String> = cells.iter().map(|(r, c)| format!("({r}, {c})")).collect();
        let mut played = Vec::new();
        for a in &actions {
            if s.is_over() { break; }
            played.push(s.step(a).unwrap());
        }
        prop_assert_eq!(s.restart().unwrap(), first);
        for (a, expected) in actions.iter().zip(&played) {
            prop_assert_eq!(&s.step(a).unwrap(), expected);
        }
    }
}
