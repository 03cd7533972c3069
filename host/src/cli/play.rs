//! `lamer-host play`: a person plays an environment in the terminal.
//!
//! Each line you type is one action, sent to the plugin exactly as an agent's
//! `<action>` content would be. Lines starting with `:` are commands
//! (`:help`); an unknown one is refused without spending a turn. Actions can
//! also be piped on stdin, one per line.
//!
//! Before the first task it shows what an agent is told: the environment's
//! rules (its legend) and the action format (`--no-legend` leaves them out).
//! Every step is numbered by its turn, and a grid board in an observation
//! (rows such as `3: # _ X _ #` or `Row 3: ? 1 .`) gets a header that numbers
//! its columns, counting from where its rows count.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use clap::Args;
use lamer_plugin::{EnvFactory, EnvSession, SessionError};
use lamer_sdk::{StepResult, Task};

use super::plugin_args::PluginArgs;
use super::terminal::{one_line, safe_text};

#[derive(Debug, Args)]
pub struct PlayArgs {
    #[command(flatten)]
    pub plugin: PluginArgs,

    /// The split to draw the task from.
    #[arg(long, default_value = "test")]
    pub split: String,

    /// The task index within the split.
    #[arg(long, default_value_t = 0)]
    pub task: u64,

    /// Do not print the environment's rules and action format before playing.
    #[arg(long)]
    pub no_legend: bool,

    /// Accepted for old scripts: the rules are now shown by default.
    #[arg(long, hide = true)]
    pub rules: bool,
}

const HELP: &str = "Commands: :actions (admissible actions), :expert (the oracle's move), \
                    :restart (same task, from the start), :next (the next task), :help, :quit";

/// The episode being played.
#[derive(Debug, Default)]
struct Episode {
    turns: u32,
    total: f64,
    over: bool,
}

pub fn run(args: PlayArgs) -> anyhow::Result<()> {
    let plugin = args.plugin.load()?;
    let config = args.plugin.config_json()?;
    let mut session = plugin.open(&config).context("cannot open a session")?;
    let interactive = std::io::stdin().is_terminal();
    let mut task = Task::new(&args.split, args.task);

    if !args.no_legend {
        let prompt = session.prompt()?;
        println!("{}\n", safe_text(&prompt.role));
        println!("{}\n", safe_text(&prompt.rules));
        println!(
            "Action format: type what an agent would put inside <action> </action>; the \
             agent is told: {}\n",
            one_line(&prompt.action_instruction)
        );
    }
    start(session.as_mut(), &task, interactive)?;

    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut episode = Episode::default();
    loop {
        if interactive {
            if episode.over {
                print!("(episode over) > ");
            } else {
                print!("turn {}> ", episode.turns + 1);
            }
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("cannot read stdin")?;
        match line.trim() {
            ":quit" | ":q" => break,
            ":help" | ":h" => println!("{HELP}"),
            ":actions" => println!("{}", safe_text(&session.admissible_actions()?.join(" | "))),
            ":expert" => match session.expert_action()? {
                Some(action) => println!("expert: {}", safe_text(&action)),
                None => println!("expert: (none)"),
            },
            ":restart" => {
                let reset = session.restart()?;
                println!(
                    "-- restarted {task} --\n{}",
                    number_grid_columns(&safe_text(&reset.observation))
                );
                episode = Episode::default();
            }
            ":next" => {
                task = Task::new(&task.split, task.index + 1);
                start(session.as_mut(), &task, interactive)?;
                episode = Episode::default();
            }
            command if command.starts_with(':') => {
                println!(
                    "unknown command `{}`; no turn was spent. {HELP}",
                    one_line(command)
                );
            }
            _ if episode.over => println!("The episode is over. {HELP}"),
            _ => {
                let result = match session.step(&line) {
                    Ok(result) => result,
                    // The environment refused the step, or the host's turn
                    // cap ended the episode: say so and go on.
                    Err(error) if !error.is_fatal() => {
                        println!("{}", one_line(&error.to_string()));
                        if matches!(error, SessionError::TurnLimit { .. }) {
                            episode.over = true;
                        }
                        continue;
                    }
                    Err(error) => return Err(error.into()),
                };
                episode.turns += 1;
                episode.total += result.reward;
                print_step(&line, &result, &episode);
                if result.done() {
                    episode.over = true;
                    let outcome = if result.won { "won" } else { "not won" };
                    println!(
                        "-- episode over after {} turns: {outcome}, total reward {:.3} --",
                        episode.turns, episode.total
                    );
                    if !interactive {
                        break;
                    }
                }
            }
        }
    }
    Ok(())
}

fn start(session: &mut dyn EnvSession, task: &Task, interactive: bool) -> anyhow::Result<()> {
    let reset = session
        .reset(task)
        .with_context(|| format!("cannot start task {task}"))?;
    println!(
        "-- task {task} --\n{}",
        number_grid_columns(&safe_text(&reset.observation))
    );
    if interactive {
        println!("(type an action; {HELP})");
    }
    Ok(())
}

fn print_step(action: &str, r: &StepResult, episode: &Episode) {
    println!(
        "turn {}: action {:?} -> {:?}{}  reward {:+.3} (total {:.3})  terminated {}  truncated {}  won {}",
        episode.turns,
        one_line(action),
        r.action_echo,
        if r.action_valid { "" } else { " [invalid]" },
        r.reward,
        episode.total,
        r.terminated,
        r.truncated,
        r.won
    );
    for pair in &r.info {
        if pair.value.len() < 200 {
            println!("  {} = {}", one_line(&pair.key), one_line(&pair.value));
        }
    }
    println!("{}", number_grid_columns(&safe_text(&r.observation)));
}

/// One row of a grid board: `<label N>: c c c …`, one-character cells
/// separated by single spaces.
struct GridRow {
    /// The width of everything before the first cell, in characters.
    indent: usize,
    /// The row's own number (where its label counts from).
    number: u64,
    cells: usize,
}

fn grid_row(line: &str) -> Option<GridRow> {
    let (label, cells) = line.split_once(": ")?;
    let digits = label.trim_start();
    let digits = digits.strip_prefix("Row ").unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = digits.parse().ok()?;
    let chars: Vec<char> = cells.trim_end().chars().collect();
    // c, space, c, space, …, c: an odd count, cells at even positions.
    if chars.len() < 3 || chars.len().is_multiple_of(2) {
        return None;
    }
    let laid_out = chars
        .iter()
        .enumerate()
        .all(|(i, &c)| (i % 2 == 1) == (c == ' '));
    laid_out.then(|| GridRow {
        indent: label.chars().count() + 2,
        number,
        cells: chars.len().div_ceil(2),
    })
}

/// The header lines that number `cells` columns from `first`, indented to
/// the cells: one line of units, preceded by one of tens when the numbers
/// reach two digits.
fn column_header(indent: usize, first: u64, cells: usize) -> Vec<String> {
    let numbers: Vec<u64> = (0..cells as u64).map(|i| first + i).collect();
    let digit_line = |digit: fn(u64) -> Option<u64>| {
        let digits: Vec<String> = numbers
            .iter()
            .map(|&n| digit(n).map_or(" ".to_string(), |d| d.to_string()))
            .collect();
        format!("{}{}", " ".repeat(indent), digits.join(" "))
            .trim_end()
            .to_string()
    };
    let mut lines = Vec::new();
    if numbers.iter().any(|&n| n >= 10) {
        lines.push(digit_line(|n| (n >= 10).then_some(n / 10 % 10)));
    }
    lines.push(digit_line(|n| Some(n % 10)));
    lines
}

/// `text` with a column-numbering header above every grid board (two or
/// more consecutive grid rows of the same width). Columns count from the
/// first row's number: 0 for `0: …` boards, 1 for `Row 1: …` boards.
fn number_grid_columns(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::with_capacity(lines.len() + 2);
    let mut i = 0;
    while i < lines.len() {
        let Some(first) = grid_row(lines[i]) else {
            out.push(lines[i].to_string());
            i += 1;
            continue;
        };
        let mut end = i + 1;
        while end < lines.len() && grid_row(lines[end]).is_some_and(|r| r.cells == first.cells) {
            end += 1;
        }
        if end - i >= 2 {
            out.extend(column_header(first.indent, first.number, first.cells));
        }
        out.extend(lines[i..end].iter().map(|l| l.to_string()));
        i = end;
    }
    let mut numbered = out.join("\n");
    if text.ends_with('\n') {
        numbered.push('\n');
    }
    numbered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sokoban_board_gets_its_columns_numbered_from_zero() {
        let board = "0: # # # #\n1: # P X #\n2: # # # #";
        assert_eq!(
            number_grid_columns(board),
            "   0 1 2 3\n0: # # # #\n1: # P X #\n2: # # # #"
        );
    }

    #[test]
    fn a_minesweeper_board_counts_from_one_and_wide_boards_get_tens() {
        let row = |n: u32| format!("Row {n}: {}", ["?"; 11].join(" "));
        let board = format!("The board:\n{}\n{}\nYour move.", row(1), row(2));
        let numbered = number_grid_columns(&board);
        let lines: Vec<&str> = numbered.lines().collect();
        assert_eq!(lines[0], "The board:");
        assert_eq!(lines[1], "                         1 1");
        assert_eq!(lines[2], "       1 2 3 4 5 6 7 8 9 0 1");
        assert_eq!(lines[3], row(1));
        assert_eq!(lines[5], "Your move.");
    }

    #[test]
    fn text_that_is_not_a_board_is_left_alone() {
        for text in [
            "Door 1: closed\nDoor 2: open",
            "1: a b c",
            "1: ab cd\n2: ab cd",
            "You see: a b\nThen: c d",
            "",
        ] {
            assert_eq!(number_grid_columns(text), text);
        }
        // Rows of different widths are separate (single-row) runs.
        let ragged = "0: # #\n1: # # #";
        assert_eq!(number_grid_columns(ragged), ragged);
    }
}
