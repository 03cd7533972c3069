//! # MineSweeper, as LaMer plays it
//!
//! A board hides a few mines; the agent opens one cell per turn and reads the
//! numbers (mines among the 8 neighbours) to deduce where the mines are. The
//! episode is won when every safe cell is open and lost on a mine. This crate
//! reproduces LaMer's MineSweeper environment as a lamer plugin.
//!
//! ## Tasks
//! 6×6 with 3 mines and 7 turns by default (configurable). Each task seed
//! fixes both the mines and the automatic first click, which reset performs:
//! the click is never a mine and is flood-revealed. Splits: `train` seeds
//! `[0, 2^16)`, `test` seeds `[2^16, 2^32)` (task `i` → seed `2^16 + i`), and
//! two out-of-distribution splits on the test seeds that override the board:
//! `ood-mines` (6×6 with 5 mines) and `ood-large` (8×8 with 6 mines).
//!
//! Generation: the first click is a uniform cell; the mines are a uniform
//! sample of the other cells (the distribution the reference's
//! "n smallest of a uniform array, excluding the click" produces). If the
//! first click already wins (its cascade opens every safe cell), the click is
//! re-drawn uniformly among the safe cells whose reveal does not win, with the
//! same mines. **Deviation**: the reference re-draws over the whole board,
//! so about 1% of its boards start already lost (a re-click on a mine), and
//! its click comes from an unseeded global RNG. Here every draw comes from the
//! task seed and no reset yields a won or lost board.
//!
//! ## Observation
//! `Row i: ? ? 1 . …` per row (1-based), cells separated by single spaces: `?`
//! unopened, `.` opened with no neighbouring mine, `1`–`8` the count, `*` the
//! mine the agent clicked. No trailing newline.
//!
//! ## Actions
//! `(row, col)`, 1-based: the first `\(\s*\d+\s*,\s*\d+\s*\)` in the action
//! text. Echo `(r, c)`, or `no operation` when nothing matches (then
//! `action_valid = false`).
//!
//! ## Rewards (the reference's precedence)
//! 1. The board did not change (no pair, out of range, already open): −1, the
//!    episode goes on.
//! 2. A mine: −0.1, the episode ends lost; the mine shows as `*`.
//! 3. The reveal opened the last safe cell: +10, won (instead of 4 or 5).
//! 4. One cell opened: +0.5.
//! 5. A cascade (more than one cell): +2.
//!
//! ## Expert
//! An exact solver over what the agent sees ([`solver`]): a certainly safe
//! cell if one exists (the likeliest cascade first), else the least likely
//! mine.

pub mod action;
pub mod board;
pub mod solver;

use lamer_sdk::*;
use serde::{Deserialize, Serialize};

use crate::board::Board;

/// Session config. Defaults are LaMer's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Board rows (2 to 30).
    pub rows: usize,
    /// Board columns (2 to 30).
    pub cols: usize,
    /// Mines (at least 1, at most `rows × cols − 2`).
    pub mines: usize,
    /// Agent turns per attempt.
    pub max_turns: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rows: 6,
            cols: 6,
            mines: 3,
            max_turns: 7,
        }
    }
}

/// A board shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub rows: usize,
    pub cols: usize,
    pub mines: usize,
}

/// `ood-mines`: the default board with more mines.
pub const OOD_MINES: Shape = Shape {
    rows: 6,
    cols: 6,
    mines: 5,
};
/// `ood-large`: a larger board.
pub const OOD_LARGE: Shape = Shape {
    rows: 8,
    cols: 8,
    mines: 6,
};

impl Config {
    fn shape(&self) -> Shape {
        Shape {
            rows: self.rows,
            cols: self.cols,
            mines: self.mines,
        }
    }

    fn validate(&self) -> Result<(), EnvError> {
        if !(2..=30).contains(&self.rows) || !(2..=30).contains(&self.cols) {
            return Err(EnvError::InvalidConfig(format!(
                "rows and cols must be 2 to 30, got {}×{}",
                self.rows, self.cols
            )));
        }
        let cells = self.rows * self.cols;
        if self.mines == 0 || self.mines + 2 > cells {
            return Err(EnvError::InvalidConfig(format!(
                "mines must be 1 to {} on a {}×{} board (two safe cells at least), got {}",
                cells - 2,
                self.rows,
                self.cols,
                self.mines
            )));
        }
        if self.max_turns == 0 {
            return Err(EnvError::InvalidConfig(
                "max_turns must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

const TRAIN_SEEDS: u64 = 1 << 16;
const TEST_TASKS: u64 = (1 << 32) - TRAIN_SEEDS;

/// The seed of a task: train `i` → `i`; every other split `i` → `2^16 + i`.
pub fn task_seed(task: &Task) -> u64 {
    match task.split.as_str() {
        "train" => task.index,
        _ => TRAIN_SEEDS + task.index,
    }
}

/// The board shape of a task: the ood splits override the config.
pub fn task_shape(config: &Config, task: &Task) -> Shape {
    match task.split.as_str() {
        "ood-mines" => OOD_MINES,
        "ood-large" => OOD_LARGE,
        _ => config.shape(),
    }
}

/// A new board for a seed: mines and the automatic first click, revealed.
/// Returns the board and the (possibly re-drawn) first click.
pub fn deal(seed: u64, shape: Shape) -> (Board, usize, bool) {
    let mut rng = SeededRng::new(seed);
    let cells = shape.rows * shape.cols;
    let click = rng.index(cells);
    // Mines are drawn among the other cells: index i of that list is cell i
    // below the click and cell i + 1 from it on.
    let mines: Vec<usize> = rng
        .sample_indices(cells - 1, shape.mines)
        .into_iter()
        .map(|i| if i < click { i } else { i + 1 })
        .collect();
    let mut board = Board::new(shape.rows, shape.cols, &mines);
    board.reveal(click);
    if !board.is_won() {
        return (board, click, false);
    }
    // The click opened everything: re-draw among safe cells whose reveal
    // leaves something to do. Every zero cell lies in the cascade that just
    // opened the board, so exactly the numbered safe cells qualify; one
    // exists because some safe cell borders a mine (mines ≥ 1, ≥ 2 safe).
    let candidates: Vec<usize> = (0..cells)
        .filter(|&c| !board.is_mine(c) && board.count(c) > 0)
        .collect();
    let click = candidates[rng.index(candidates.len())];
    board.hide_all();
    board.reveal(click);
    (board, click, true)
}

/// The environment state.
#[derive(Debug, Clone)]
pub struct MineSweeper {
    config: Config,
    board: Option<Board>,
}

impl MineSweeper {
    /// The board in play (after `reset`).
    pub fn board(&self) -> Option<&Board> {
        self.board.as_ref()
    }

    /// A session-less environment on a given board (tests, fixtures).
    pub fn from_board(config: Config, board: Board) -> Result<Self, EnvError> {
        config.validate()?;
        Ok(MineSweeper {
            config,
            board: Some(board),
        })
    }

    fn shape(&self) -> Shape {
        self.board.as_ref().map_or(self.config.shape(), |b| Shape {
            rows: b.rows(),
            cols: b.cols(),
            mines: b.mines(),
        })
    }
}

impl Environment for MineSweeper {
    type Config = Config;

    fn info() -> EnvInfo {
        EnvInfo::new(
            "minesweeper",
            env!("CARGO_PKG_VERSION"),
            "LaMer's MineSweeper: open every safe cell of a small board, one cell per turn, \
             using the neighbour counts to avoid the hidden mines.",
            Config::default().max_turns,
        )
        .with_split(SplitInfo::procedural(
            "train",
            "Seeds 0..2^16 on the configured board.",
            TRAIN_SEEDS,
        ))
        .with_split(SplitInfo::procedural(
            "test",
            "Seeds 2^16..2^32 (task i is seed 2^16+i) on the configured board, disjoint from \
             train.",
            TEST_TASKS,
        ))
        .with_split(SplitInfo::procedural(
            "ood-mines",
            "Out of distribution: the test seeds on a 6×6 board with 5 mines (overrides the \
             configured board).",
            TEST_TASKS,
        ))
        .with_split(SplitInfo::procedural(
            "ood-large",
            "Out of distribution: the test seeds on an 8×8 board with 6 mines (overrides the \
             configured board).",
            TEST_TASKS,
        ))
    }

    fn open(config: Config) -> Result<Self, EnvError> {
        config.validate()?;
        Ok(MineSweeper {
            config,
            board: None,
        })
    }

    fn max_turns(&self) -> u32 {
        self.config.max_turns
    }

    fn reset(&mut self, task: &Task) -> Result<ResetResult, EnvError> {
        let shape = task_shape(&self.config, task);
        let (board, click, redrawn) = deal(task_seed(task), shape);
        let observation = board.render();
        let (r, c) = (click / shape.cols + 1, click % shape.cols + 1);
        self.board = Some(board);
        Ok(ResetResult::new(observation)
            .info("rows", shape.rows)
            .info("cols", shape.cols)
            .info("mines", shape.mines)
            .info("first_click", format!("({r}, {c})"))
            .info("first_click_redrawn", redrawn))
    }

    fn step(&mut self, action: &str) -> Result<Step, EnvError> {
        let board = self.board.as_mut().ok_or(EnvError::NotReset)?;
        let Some((row, col)) = action::parse_cell(action) else {
            return Ok(Step::new(board.render())
                .reward(-1.0)
                .valid(false)
                .echo("no operation"));
        };
        let echo = format!("({row}, {col})");
        let (rows, cols) = (board.rows() as u64, board.cols() as u64);
        let in_range = (1..=rows).contains(&row) && (1..=cols).contains(&col);
        let cell = in_range.then(|| ((row - 1) * cols + (col - 1)) as usize);
        let Some(cell) = cell.filter(|&c| board.shown(c) == board::Shown::Hidden) else {
            // Out of range or already open: the board is unchanged.
            return Ok(Step::new(board.render()).reward(-1.0).echo(echo));
        };
        if board.is_mine(cell) {
            board.explode(cell);
            return Ok(Step::new(board.render())
                .reward(-0.1)
                .terminated(true)
                .echo(echo)
                .info("mine", true));
        }
        let opened = board.reveal(cell);
        let won = board.is_won();
        let reward = if won {
            10.0
        } else if opened == 1 {
            0.5
        } else {
            2.0
        };
        Ok(Step::new(board.render())
            .reward(reward)
            .terminated(won)
            .won(won)
            .echo(echo)
            .info("opened", opened))
    }

    fn admissible_actions(&self) -> Vec<String> {
        let Some(board) = &self.board else {
            return Vec::new();
        };
        (0..board.cells())
            .filter(|&c| board.shown(c) == board::Shown::Hidden)
            .map(|c| format!("({}, {})", c / board.cols() + 1, c % board.cols() + 1))
            .collect()
    }

    fn expert_action(&self) -> Option<String> {
        let board = self.board.as_ref()?;
        let cell = solver::best_cell(board)?;
        Some(format!(
            "({}, {})",
            cell / board.cols() + 1,
            cell % board.cols() + 1
        ))
    }

    fn prompt(&self) -> PromptPieces {
        let Shape { rows, cols, mines } = self.shape();
        let size = if rows == cols {
            format!("{rows} by {cols}")
        } else {
            format!("{rows} by {cols} (rows by columns)")
        };
        let mine_word = if mines == 1 { "mine" } else { "mines" };
        PromptPieces::new(
            "You are an expert agent playing the game of Minesweeper.",
            format!(
                "The board is a {size} grid with {mines} hidden {mine_word}. Rows are numbered \
                 1 to {rows} from the top and columns 1 to {cols} from the left.\n\n\
                 # Cells\n\
                 - `?` unopened: not revealed yet; it may hide a mine.\n\
                 - `.` blank: opened, safe, and none of its eight neighbours is a mine.\n\
                 - `1`-`8` number: opened and safe; the number counts the mines among its \
                 eight neighbours, diagonals included (an `8` means every neighbour is a \
                 mine).\n\
                 - `*` mine: an opened cell that held a mine.\n\n\
                 # Goal\n\
                 Open every cell that does not hold a mine without ever opening a mine. Use \
                 the numbers to work out which unopened cells are safe and which hide mines.\n\n\
                 # Reveal rules\n\
                 Each turn you open ONE unopened cell (`?`). What happens depends on what it \
                 holds:\n\
                 - a blank cell (`.`): it opens, and so does every connected blank cell \
                 together with the numbered cells bordering them (an automatic cascade);\n\
                 - a numbered cell (`1`-`8`): only that cell opens and shows its count;\n\
                 - a mine: the game ends at once, lost."
            ),
        )
        .initial_state_label("The initial state of the game is:")
        .action_instruction(
            "Now it's your turn to make a move. First reason step by step about the board: \
             what each number tells you about the unopened cells around it, and which cells \
             must be safe or must be mines. Then choose ONE unopened cell (`?`) to open and \
             give it as (row, col) inside <action> </action> tags, e.g. <action>(2, 3)</action>.",
        )
        .reflect_instruction(
            "Reason step by step about the cells you opened in that attempt: which choices \
             were forced by the numbers, which were guesses, and where a mine was hit or turns \
             were wasted on opened cells. Then write a concise, improved plan from the same \
             initial board that names the specific cells to open, as (row, col).",
        )
        .list_admissible_actions(false)
        .history(HistoryWindow::default())
    }
}

export_env!(MineSweeper);

#[cfg(test)]
mod tests;
