//! The MineSweeper action: the first `(row, col)` in the text, i.e. the first
//! match of `\(\s*\d+\s*,\s*\d+\s*\)`, both 1-based. A ten-line scanner does
//! this; a regex crate would add a dependency (and wasm size) for one pattern.

/// The first `(row, col)` pair in the text; numbers too large for `u64`
/// saturate (they are out of range on any board anyway).
pub fn parse_cell(text: &str) -> Option<(u64, u64)> {
    let bytes = text.as_bytes();
    (0..bytes.len())
        .filter(|&i| bytes[i] == b'(')
        .find_map(|i| match_pair(&text[i + 1..]))
}

/// Matches `\s*\d+\s*,\s*\d+\s*\)` at the start of `rest`.
fn match_pair(rest: &str) -> Option<(u64, u64)> {
    let rest = rest.trim_start();
    let (row, rest) = number(rest)?;
    let rest = rest.trim_start().strip_prefix(',')?.trim_start();
    let (col, rest) = number(rest)?;
    rest.trim_start().starts_with(')').then_some((row, col))
}

/// One or more ASCII digits (Python's `\d` also takes other Unicode digits;
/// an agent writes ASCII).
fn number(text: &str) -> Option<(u64, &str)> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    let value = text[..end].bytes().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    Some((value, &text[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_pair() {
        assert_eq!(parse_cell("(3, 4)"), Some((3, 4)));
        assert_eq!(parse_cell("reveal ( 2 ,5 ) then (1,1)"), Some((2, 5)));
        assert_eq!(parse_cell("(a, 1) or (\n6,\t6)"), Some((6, 6)));
        assert_eq!(parse_cell("((1,2))"), Some((1, 2)));
    }

    #[test]
    fn rejects_other_shapes() {
        for text in [
            "", "3, 4", "(3 4)", "(3,)", "(-1, 2)", "(1, 2", "(1.5, 2)", "[1, 2]",
        ] {
            assert_eq!(parse_cell(text), None, "{text:?}");
        }
    }

    #[test]
    fn huge_numbers_saturate() {
        assert_eq!(
            parse_cell("(99999999999999999999999, 1)"),
            Some((u64::MAX, 1))
        );
    }
}
