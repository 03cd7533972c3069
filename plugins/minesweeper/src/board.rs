//! The MineSweeper board: mines, neighbour counts, what the agent sees, and
//! the reveal rule (a zero cell opens its 8 neighbours, recursively).

/// What the agent sees in one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// `?`
    Hidden,
    /// `.` or `1`–`8`
    Open,
    /// `*`: the mine the agent clicked.
    Exploded,
}

/// A board in play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    rows: usize,
    cols: usize,
    mine: Vec<bool>,
    /// Mines among the 8 neighbours.
    count: Vec<u8>,
    shown: Vec<Shown>,
}

impl Board {
    /// A board with mines on `mines` (cell indices), everything hidden.
    pub fn new(rows: usize, cols: usize, mines: &[usize]) -> Self {
        let mut mine = vec![false; rows * cols];
        for &m in mines {
            mine[m] = true;
        }
        let mut board = Board {
            rows,
            cols,
            count: vec![0; rows * cols],
            mine,
            shown: vec![Shown::Hidden; rows * cols],
        };
        // Each mine adds one to its neighbours: a few mines, not every cell.
        for (cell, _) in board.mine.iter().enumerate().filter(|(_, m)| **m) {
            for n in board.neighbors(cell) {
                board.count[n] += 1;
            }
        }
        board
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn cells(&self) -> usize {
        self.rows * self.cols
    }

    pub fn is_mine(&self, cell: usize) -> bool {
        self.mine[cell]
    }

    pub fn mines(&self) -> usize {
        self.mine.iter().filter(|&&m| m).count()
    }

    /// Mines around a cell.
    pub fn count(&self, cell: usize) -> u8 {
        self.count[cell]
    }

    pub fn shown(&self, cell: usize) -> Shown {
        self.shown[cell]
    }

    /// The (up to) 8 neighbours inside the board, row by row. Collected into
    /// a small array on the stack: this runs for every cell of every cascade,
    /// and a chain of iterator adapters cost more than the rest of a reset.
    pub fn neighbors(&self, cell: usize) -> impl Iterator<Item = usize> + use<> {
        let (r, c) = (cell / self.cols, cell % self.cols);
        let mut found = [0usize; 8];
        let mut len = 0;
        for nr in r.saturating_sub(1)..=(r + 1).min(self.rows - 1) {
            for nc in c.saturating_sub(1)..=(c + 1).min(self.cols - 1) {
                if (nr, nc) != (r, c) {
                    found[len] = nr * self.cols + nc;
                    len += 1;
                }
            }
        }
        found.into_iter().take(len)
    }

    /// Opens a hidden safe cell, cascading from zero cells. Returns how many
    /// cells were opened (0 if the cell was not hidden or is a mine).
    pub fn reveal(&mut self, cell: usize) -> usize {
        if self.shown[cell] != Shown::Hidden || self.mine[cell] {
            return 0;
        }
        let mut opened = 0;
        let mut stack = vec![cell];
        while let Some(at) = stack.pop() {
            if self.shown[at] != Shown::Hidden {
                continue;
            }
            self.shown[at] = Shown::Open;
            opened += 1;
            if self.count[at] == 0 {
                stack.extend(
                    self.neighbors(at)
                        .filter(|&n| self.shown[n] == Shown::Hidden),
                );
            }
        }
        opened
    }

    /// Shows the clicked mine as `*`.
    pub fn explode(&mut self, cell: usize) {
        self.shown[cell] = Shown::Exploded;
    }

    /// Hides everything again (mines unchanged).
    pub fn hide_all(&mut self) {
        self.shown.fill(Shown::Hidden);
    }

    /// Every safe cell is open (the reference's non-strict win condition).
    pub fn is_won(&self) -> bool {
        (0..self.cells()).all(|c| self.mine[c] || self.shown[c] == Shown::Open)
    }

    pub fn is_lost(&self) -> bool {
        self.shown.contains(&Shown::Exploded)
    }

    /// Safe cells still hidden.
    pub fn hidden_safe(&self) -> usize {
        (0..self.cells())
            .filter(|&c| !self.mine[c] && self.shown[c] == Shown::Hidden)
            .count()
    }

    /// The glyph of a cell: `? . 1-8 *`.
    pub fn glyph(&self, cell: usize) -> char {
        match self.shown[cell] {
            Shown::Hidden => '?',
            Shown::Exploded => '*',
            Shown::Open => match self.count[cell] {
                0 => '.',
                n => char::from(b'0' + n),
            },
        }
    }

    /// `Row i: ? ? 1 .` per row (1-based), no trailing newline.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.rows * (8 + 2 * self.cols));
        for r in 0..self.rows {
            if r > 0 {
                out.push('\n');
            }
            out.push_str("Row ");
            push_number(&mut out, r + 1);
            out.push(':');
            for c in 0..self.cols {
                out.push(' ');
                out.push(self.glyph(r * self.cols + c));
            }
        }
        out
    }
}

/// Appends a row number; boards have at most 30 rows, so this skips the
/// formatting machinery (slow inside wasm) for the common case.
fn push_number(out: &mut String, n: usize) {
    match n {
        0..=9 => out.push(char::from(b'0' + n as u8)),
        10..=99 => {
            out.push(char::from(b'0' + (n / 10) as u8));
            out.push(char::from(b'0' + (n % 10) as u8));
        }
        _ => out.push_str(&n.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_cascade_and_render() {
        // 4×4, one mine in the top-left corner.
        let mut b = Board::new(4, 4, &[0]);
        assert_eq!(b.count(1), 1);
        assert_eq!(b.count(5), 1);
        assert_eq!(b.count(15), 0);
        assert_eq!(b.reveal(15), 15, "a zero cell opens every safe cell here");
        assert!(b.is_won());
        assert_eq!(
            b.render(),
            "Row 1: ? 1 . .\nRow 2: 1 1 . .\nRow 3: . . . .\nRow 4: . . . ."
        );
    }

    #[test]
    fn a_number_opens_one_cell_and_opened_cells_stay() {
        let mut b = Board::new(4, 4, &[0]);
        assert_eq!(b.reveal(5), 1);
        assert_eq!(b.reveal(5), 0);
        assert_eq!(b.reveal(0), 0, "mines are never revealed");
        assert_eq!(b.glyph(5), '1');
        b.explode(0);
        assert_eq!(b.glyph(0), '*');
        assert!(b.is_lost());
    }

    #[test]
    fn row_numbers_of_any_size() {
        let mut out = String::new();
        for n in [0, 7, 10, 30, 99, 100, 1234] {
            push_number(&mut out, n);
            out.push(' ');
        }
        assert_eq!(out, "0 7 10 30 99 100 1234 ");
    }

    #[test]
    fn neighbours_respect_edges() {
        let b = Board::new(3, 4, &[]);
        assert_eq!(b.neighbors(0).collect::<Vec<_>>(), vec![1, 4, 5]);
        assert_eq!(b.neighbors(5).count(), 8);
    }
}
