//! Text from plugins, made safe to show on a terminal.
//!
//! Observations, info values, descriptions and panic messages come from code
//! we did not write. Printed raw, an escape sequence in them can clear the
//! screen, move the cursor, retitle the window or hide text. Before anything
//! from a plugin reaches stdout or stderr, control characters are shown as
//! visible escapes (`\u{1b}`), except the newlines and tabs that lay out a
//! board; an error message is also folded onto one line.

use std::borrow::Cow;

fn is_unsafe(c: char, keep_layout: bool) -> bool {
    let layout = c == '\n' || c == '\t';
    c.is_control() && !(keep_layout && layout)
        // Bidirectional overrides can reorder what a reader sees.
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape(text: &str, keep_layout: bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c, keep_layout)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c, keep_layout) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` with every control character but newlines and tabs escaped.
pub fn safe_text(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

/// `text` on one line: line breaks become ` / `, other control characters
/// are escaped.
pub fn one_line(text: &str) -> String {
    let joined = text
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ");
    escape(&joined, false).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_made_visible_and_layout_kept() {
        let board = "# P #\n#\tX #";
        assert!(matches!(safe_text(board), Cow::Borrowed(_)));
        assert_eq!(
            safe_text("\u{1b}[2Jred\u{7}\nrow\r"),
            "\\u{1b}[2Jred\\u{7}\nrow\\u{d}"
        );
        assert_eq!(safe_text("a\u{202e}b"), "a\\u{202e}b");
    }

    #[test]
    fn errors_fold_onto_one_line() {
        assert_eq!(
            one_line("panicked at x:\n  \u{1b}[31mboom\u{1b}[0m\r\n\nnext"),
            "panicked at x: / \\u{1b}[31mboom\\u{1b}[0m / next"
        );
        assert_eq!(one_line("plain"), "plain");
    }
}
