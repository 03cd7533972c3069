//! # `token_set_ratio` with the semantics of Python's `thefuzz` 0.22
//!
//! WebShop's reward decides whether an attribute or an option "matches" with
//! `thefuzz.fuzz.token_set_ratio(a, b) > 85`. thefuzz 0.22 is a thin wrapper
//! over rapidfuzz, so the score here follows that pipeline exactly:
//!
//! 1. *Process* both strings (`force_ascii=True, full_process=True`): drop the
//!    code points 128–255, replace every non-alphanumeric character with a
//!    space, lower-case, trim.
//! 2. Split on whitespace into token *sets*. Either set empty → 0.
//! 3. `sect` = the sorted intersection, `d1`/`d2` = the sorted differences,
//!    each joined by single spaces. A non-empty intersection with one empty
//!    difference → 100 (one string's tokens contain the other's).
//! 4. Otherwise the maximum of three Indel ratios — `sect` vs `sect d1`,
//!    `sect` vs `sect d2`, and `sect d1` vs `sect d2` — each computed as
//!    `100 - 100·dist/lensum` (rapidfuzz's `norm_distance`), where the first
//!    two distances are plain length differences and the third equals the
//!    Indel distance of `d1` and `d2` (the shared `sect` prefix cancels).
//! 5. thefuzz rounds with Python's `round`, i.e. half to even.
//!
//! The Indel distance (insertions + deletions, i.e. `len1 + len2 − 2·LCS`)
//! comes from the MIT `rapidfuzz` crate. Lengths are in code points, as in
//! Python. `bench/webshop/thefuzz_oracle.py` and `tests/thefuzz_diff.rs`
//! check this module against the real package.

use std::collections::BTreeSet;

/// thefuzz's `full_process(s, force_ascii=True)`.
pub fn full_process(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let code = c as u32;
        if (128..256).contains(&code) {
            continue;
        }
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else {
            out.push(' ');
        }
    }
    out.trim().to_string()
}

/// rapidfuzz's `norm_distance<100>`: the similarity in percent for an Indel
/// distance over the summed lengths.
fn norm_distance(dist: usize, lensum: usize) -> f64 {
    if lensum == 0 {
        return 100.0;
    }
    100.0 - 100.0 * dist as f64 / lensum as f64
}

/// The unrounded token-set score of two already processed strings.
pub fn token_set_score(a: &str, b: &str) -> f64 {
    let tokens_a: BTreeSet<&str> = a.split_whitespace().collect();
    let tokens_b: BTreeSet<&str> = b.split_whitespace().collect();
    if tokens_a.is_empty() || tokens_b.is_empty() {
        return 0.0;
    }
    let sect: Vec<&str> = tokens_a.intersection(&tokens_b).copied().collect();
    let diff_ab: Vec<&str> = tokens_a.difference(&tokens_b).copied().collect();
    let diff_ba: Vec<&str> = tokens_b.difference(&tokens_a).copied().collect();
    if !sect.is_empty() && (diff_ab.is_empty() || diff_ba.is_empty()) {
        return 100.0;
    }
    let ab = diff_ab.join(" ");
    let ba = diff_ba.join(" ");
    let ab_len = ab.chars().count();
    let ba_len = ba.chars().count();
    let sect_len = sect.join(" ").chars().count();
    let sep = usize::from(sect_len > 0);
    let sect_ab_len = sect_len + sep + ab_len;
    let sect_ba_len = sect_len + sep + ba_len;
    let dist = rapidfuzz::distance::indel::distance(ab.chars(), ba.chars());
    let result = norm_distance(dist, sect_ab_len + sect_ba_len);
    if sect_len == 0 {
        return result;
    }
    let sect_ab_ratio = norm_distance(sep + ab_len, sect_len + sect_ab_len);
    let sect_ba_ratio = norm_distance(sep + ba_len, sect_len + sect_ba_len);
    result.max(sect_ab_ratio).max(sect_ba_ratio)
}

/// `thefuzz.fuzz.token_set_ratio(a, b)`: 0–100, rounded half to even.
pub fn token_set_ratio(a: &str, b: &str) -> u32 {
    token_set_score(&full_process(a), &full_process(b)).round_ties_even() as u32
}

/// Python's `str(tuple)` of a two-string tuple, as the reference feeds a goal
/// option `(name, value)` to `token_set_ratio`.
pub fn python_tuple_str(a: &str, b: &str) -> String {
    format!("({}, {})", python_str_repr(a), python_str_repr(b))
}

/// Python's `repr(str)` for the characters that matter here: quote choice and
/// escapes of backslashes and control characters.
pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processing_matches_thefuzz() {
        assert_eq!(full_process("  X-Large (Pack of 2) "), "x large  pack of 2");
        // 128–255 are dropped (force_ascii), not turned into spaces.
        assert_eq!(full_process("caf\u{e9} noir"), "caf noir");
        assert_eq!(full_process("a\u{203a}b"), "a b");
    }

    #[test]
    fn reference_table_rows() {
        // envs.md §4.5: rows observed with thefuzz 0.19 and 0.22.
        let large_goal = python_tuple_str("size", "x-large");
        assert_eq!(large_goal, "('size', 'x-large')");
        assert_eq!(token_set_ratio("large", &large_goal), 100);
        assert_eq!(
            token_set_ratio("x-large", &python_tuple_str("size", "large")),
            83
        );
        assert_eq!(
            token_set_ratio(
                "pack of 12",
                &python_tuple_str("size", "12 count (pack of 1)")
            ),
            100
        );
        assert_eq!(
            token_set_ratio(
                "3 ounce (pack of 2)",
                &python_tuple_str("size", "3 ounce (pack of 3)")
            ),
            94
        );
    }

    #[test]
    fn empty_and_identical() {
        assert_eq!(token_set_ratio("", "abc"), 0);
        assert_eq!(token_set_ratio("!!", "abc"), 0);
        assert_eq!(token_set_ratio("machine wash", "Machine Wash"), 100);
        assert_eq!(token_set_ratio("abc", "xyz"), 0);
    }

    #[test]
    fn no_intersection_uses_plain_indel_ratio() {
        // "abcd" vs "abce": LCS 3, dist 2, lensum 8 → 75.
        assert_eq!(token_set_ratio("abcd", "abce"), 75);
    }

    #[test]
    fn rounds_half_to_even() {
        // sect "a" (1), d1 "bcd" (3), d2 "bce"(3): t1 = "a bcd", t2 = "a bce".
        // ratio(t1,t2): dist 2 over 10 → 80; sect vs t1: dist 4 over 6 → 33.3.
        assert_eq!(token_set_ratio("a bcd", "a bce"), 80);
        assert_eq!(85.5_f64.round_ties_even(), 86.0);
        assert_eq!(86.5_f64.round_ties_even(), 86.0);
    }

    #[test]
    fn tuple_repr_quotes_like_python() {
        assert_eq!(python_str_repr("men's"), "\"men's\"");
        assert_eq!(python_str_repr("a\"b'c"), "'a\"b\\'c'");
        assert_eq!(python_str_repr("x\ny"), "'x\\ny'");
    }
}
