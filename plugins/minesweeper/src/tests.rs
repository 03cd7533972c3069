//! Unit tests of every reward branch on hand-made boards.

use super::*;

/// A 1×5 strip with a mine in the middle: `. 1 * 1 .`.
fn strip() -> MineSweeper {
    MineSweeper::from_board(Config::default(), Board::new(1, 5, &[2])).unwrap()
}

#[test]
fn cascade_then_win() {
    let mut e = strip();
    let s = e.step("(1, 1)").unwrap();
    assert_eq!((s.reward, s.terminated, s.won), (2.0, false, false));
    assert_eq!(s.observation, "Row 1: . 1 ? ? ?");
    assert_eq!(s.action_echo, "(1, 1)");
    let s = e.step("<b>(1,5)</b>").unwrap();
    assert_eq!((s.reward, s.terminated, s.won), (10.0, true, true));
    assert_eq!(s.observation, "Row 1: . 1 ? 1 .");
}

#[test]
fn single_cell_then_win_replaces_the_reveal_reward() {
    let mut e = strip();
    assert_eq!(e.step("(1, 2)").unwrap().reward, 0.5);
    assert_eq!(e.step("(1, 4)").unwrap().reward, 0.5);
    assert_eq!(e.step("(1, 1)").unwrap().reward, 0.5);
    let s = e.step("(1, 5)").unwrap();
    assert_eq!((s.reward, s.won), (10.0, true));
}

#[test]
fn a_mine_loses_and_shows() {
    let mut e = strip();
    let s = e.step("(1, 3)").unwrap();
    assert_eq!((s.reward, s.terminated, s.won), (-0.1, true, false));
    assert_eq!(s.observation, "Row 1: ? ? * ? ?");
}

#[test]
fn unchanged_board_costs_one_and_goes_on() {
    let mut e = strip();
    e.step("(1, 2)").unwrap();
    let before = e.board().unwrap().render();
    for (text, echo, valid) in [
        ("(1, 2)", "(1, 2)", true), // already open
        ("(2, 1)", "(2, 1)", true), // row out of range
        ("(0, 3)", "(0, 3)", true), // 0 is out of range (1-based)
        (
            "(1, 99999999999999999999)",
            "(1, 18446744073709551615)",
            true,
        ),
        ("open the middle", "no operation", false),
        ("", "no operation", false),
    ] {
        let s = e.step(text).unwrap();
        assert_eq!(s.reward, -1.0, "{text}");
        assert!(!s.terminated);
        assert_eq!(s.action_echo, echo);
        assert_eq!(s.action_valid, valid);
        assert_eq!(s.observation, before);
    }
}

#[test]
fn deal_reveals_a_safe_first_click() {
    for seed in 0..200 {
        let (board, click, _) = deal(seed, Config::default().shape());
        assert!(!board.is_mine(click));
        assert_eq!(board.mines(), 3);
        assert!(board.shown(click) == board::Shown::Open);
        assert!(!board.is_won() && !board.is_lost());
    }
}

#[test]
fn ood_splits_override_the_board() {
    let mut s = Session::<MineSweeper>::open("{}").unwrap();
    let r = s.reset(&Task::new("ood-large", 0)).unwrap();
    assert_eq!(r.observation.lines().count(), 8);
    assert_eq!(s.env().board().unwrap().mines(), 6);
    assert!(s.prompt().rules.contains("8 by 8 grid with 6 hidden mines"));
    s.reset(&Task::new("ood-mines", 0)).unwrap();
    assert_eq!(s.env().board().unwrap().mines(), 5);
    let r = s.reset(&Task::new("test", 0)).unwrap();
    assert_eq!(r.observation.lines().count(), 6);
    assert!(s.prompt().rules.contains("6 by 6 grid with 3 hidden mines"));
}

#[test]
fn config_is_validated() {
    for bad in [
        r#"{"rows": 1}"#,
        r#"{"mines": 0}"#,
        r#"{"rows": 2, "cols": 2, "mines": 3}"#,
        r#"{"max_turns": 0}"#,
        r#"{"board_size": 6}"#,
    ] {
        assert!(
            matches!(
                Session::<MineSweeper>::open(bad).err(),
                Some(EnvError::InvalidConfig(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn expert_and_admissible_actions_name_hidden_cells() {
    let mut e = strip();
    e.step("(1, 1)").unwrap();
    assert_eq!(e.admissible_actions(), vec!["(1, 3)", "(1, 4)", "(1, 5)"]);
    // Cell 2 shows 1 and its only hidden neighbour is 3: the mine. 5 is a
    // certain zero.
    assert_eq!(e.expert_action().as_deref(), Some("(1, 5)"));
}

#[test]
fn prompt_pieces() {
    let p = MineSweeper::open(Config::default()).unwrap().prompt();
    assert!(p.rules.contains("6 by 6 grid with 3 hidden mines"));
    assert!(p.action_instruction.contains("ONE unopened cell"));
    assert!(p.action_instruction.contains("<action>(2, 3)</action>"));
    assert_eq!(p.initial_state_label, "The initial state of the game is:");
    assert!(!p.list_admissible_actions);
    assert_eq!(MineSweeper::brief_observation("Row 1: ?"), "...");
}
