//! LaMer's Sokoban action grammar. The host has already taken the text inside
//! `<action> … </action>`; the environment lower-cases it, splits it on commas,
//! and maps each piece to the first of `up`, `down`, `left`, `right`, `still`
//! that occurs in it as a substring (in that order of preference, so
//! "upward" is up and "push right then up" is up). Pieces with none of them
//! are skipped; the first `limit` recognised moves are kept. `still` is a
//! recognised no-op. Text with no recognised piece is an invalid action.

use crate::room::Dir;

/// One recognised move: a direction, or `still` (no move).
pub type Move = Option<Dir>;

/// The words in the reference's order of preference.
const WORDS: [(&str, Move); 5] = [
    ("up", Some(Dir::Up)),
    ("down", Some(Dir::Down)),
    ("left", Some(Dir::Left)),
    ("right", Some(Dir::Right)),
    ("still", None),
];

/// The recognised moves of an action text, at most `limit`; empty means the
/// action is invalid.
pub fn parse_moves(text: &str, limit: usize) -> Vec<Move> {
    let lower = text.trim().to_lowercase();
    lower
        .split(',')
        .filter_map(|piece| {
            WORDS
                .iter()
                .find(|(word, _)| piece.contains(word))
                .map(|&(_, m)| m)
        })
        .take(limit)
        .collect()
}

/// The name of a move in the history echo.
pub fn move_name(m: Move) -> &'static str {
    m.map_or("still", Dir::name)
}

/// The history echo: a Python list repr, `['left', 'down', 'down']`. An
/// invalid action echoes as the reference's no-op, `['still']`.
pub fn echo(moves: &[Move]) -> String {
    if moves.is_empty() {
        return "['still']".to_string();
    }
    let names: Vec<String> = moves
        .iter()
        .map(|&m| format!("'{}'", move_name(m)))
        .collect();
    format!("[{}]", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_map_to_the_first_word_in_preference_order() {
        assert_eq!(
            parse_moves("Left, DOWN, down", 3),
            vec![Some(Dir::Left), Some(Dir::Down), Some(Dir::Down)]
        );
        assert_eq!(parse_moves("upward", 3), vec![Some(Dir::Up)]);
        // "up" is preferred over "right" regardless of position.
        assert_eq!(parse_moves("push right then up", 3), vec![Some(Dir::Up)]);
        assert_eq!(parse_moves("still, right", 3), vec![None, Some(Dir::Right)]);
    }

    #[test]
    fn unrecognised_pieces_are_skipped_and_extra_moves_dropped() {
        assert_eq!(
            parse_moves("jump, left, x, right, up, down", 3),
            vec![Some(Dir::Left), Some(Dir::Right), Some(Dir::Up)]
        );
        assert_eq!(parse_moves("left, left", 1), vec![Some(Dir::Left)]);
        assert!(parse_moves("north, south", 3).is_empty());
        assert!(parse_moves("", 3).is_empty());
    }

    #[test]
    fn echo_is_a_python_list_repr() {
        assert_eq!(
            echo(&[Some(Dir::Left), Some(Dir::Down), None]),
            "['left', 'down', 'still']"
        );
        assert_eq!(echo(&[]), "['still']");
    }
}
