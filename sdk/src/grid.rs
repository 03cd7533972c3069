//! A rectangular board of cells, for the grid games (Sokoban, MineSweeper and
//! friends) that render their state as text rows.

/// A `rows × cols` grid stored row-major.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Grid<T> {
    rows: usize,
    cols: usize,
    cells: Vec<T>,
}

/// The four orthogonal moves as (row, col) deltas: up, down, left, right.
pub const DIRECTIONS4: [(i64, i64); 4] = [(-1, 0), (1, 0), (0, -1), (0, 1)];

impl<T: Clone> Grid<T> {
    /// A grid filled with one value.
    pub fn filled(rows: usize, cols: usize, value: T) -> Self {
        Grid {
            rows,
            cols,
            cells: vec![value; rows * cols],
        }
    }
}

impl<T> Grid<T> {
    /// Builds a grid from rows; `None` when the rows differ in length.
    pub fn from_rows(rows: Vec<Vec<T>>) -> Option<Self> {
        let cols = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != cols) {
            return None;
        }
        let n = rows.len();
        Some(Grid {
            rows: n,
            cols,
            cells: rows.into_iter().flatten().collect(),
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Whether signed coordinates fall inside the grid.
    pub fn contains(&self, row: i64, col: i64) -> bool {
        row >= 0 && col >= 0 && (row as usize) < self.rows && (col as usize) < self.cols
    }

    pub fn get(&self, row: usize, col: usize) -> Option<&T> {
        (row < self.rows && col < self.cols).then(|| &self.cells[row * self.cols + col])
    }

    pub fn get_mut(&mut self, row: usize, col: usize) -> Option<&mut T> {
        (row < self.rows && col < self.cols).then(|| &mut self.cells[row * self.cols + col])
    }

    /// Sets a cell; out-of-range coordinates are ignored and return false.
    pub fn set(&mut self, row: usize, col: usize, value: T) -> bool {
        match self.get_mut(row, col) {
            Some(cell) => {
                *cell = value;
                true
            }
            None => false,
        }
    }

    /// The cell at a position offset by a delta, if it is inside the grid.
    pub fn offset(
        &self,
        (row, col): (usize, usize),
        (dr, dc): (i64, i64),
    ) -> Option<(usize, usize)> {
        let (r, c) = (row as i64 + dr, col as i64 + dc);
        self.contains(r, c).then_some((r as usize, c as usize))
    }

    /// In-grid orthogonal neighbours in the order up, down, left, right.
    pub fn neighbors4(&self, pos: (usize, usize)) -> impl Iterator<Item = (usize, usize)> + '_ {
        DIRECTIONS4.iter().filter_map(move |&d| self.offset(pos, d))
    }

    /// In-grid neighbours including diagonals, row by row.
    pub fn neighbors8(&self, pos: (usize, usize)) -> impl Iterator<Item = (usize, usize)> + '_ {
        (-1i64..=1)
            .flat_map(|dr| (-1i64..=1).map(move |dc| (dr, dc)))
            .filter(|&d| d != (0, 0))
            .filter_map(move |d| self.offset(pos, d))
    }

    /// All positions, row-major.
    pub fn positions(&self) -> impl Iterator<Item = (usize, usize)> + use<T> {
        let cols = self.cols;
        (0..self.rows * self.cols).map(move |i| (i / cols, i % cols))
    }

    /// All cells with their positions, row-major.
    pub fn iter(&self) -> impl Iterator<Item = ((usize, usize), &T)> {
        let cols = self.cols;
        self.cells
            .iter()
            .enumerate()
            .map(move |(i, v)| ((i / cols, i % cols), v))
    }

    /// Renders one line per row: `label(row)` then each cell's text joined by
    /// `separator`. Lines are joined by `\n` with no trailing newline.
    pub fn render(
        &self,
        label: impl Fn(usize) -> String,
        separator: &str,
        cell: impl Fn(&T) -> String,
    ) -> String {
        (0..self.rows)
            .map(|r| {
                let cells: Vec<String> = (0..self.cols)
                    .map(|c| cell(&self.cells[r * self.cols + c]))
                    .collect();
                format!("{}{}", label(r), cells.join(separator))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_respect_edges() {
        let g = Grid::filled(3, 4, 0u8);
        assert_eq!(
            g.neighbors4((0, 0)).collect::<Vec<_>>(),
            vec![(1, 0), (0, 1)]
        );
        assert_eq!(g.neighbors8((1, 1)).count(), 8);
        assert_eq!(g.neighbors8((2, 3)).count(), 3);
    }

    #[test]
    fn renders_rows_with_labels() {
        let g = Grid::from_rows(vec![vec!['#', '_'], vec!['P', 'O']]).unwrap();
        let text = g.render(|r| format!("{r}: "), " ", |c| c.to_string());
        assert_eq!(text, "0: # _\n1: P O");
        assert!(Grid::from_rows(vec![vec![1], vec![1, 2]]).is_none());
    }

    #[test]
    fn set_and_get_bounds() {
        let mut g = Grid::filled(2, 2, 0);
        assert!(g.set(1, 1, 5));
        assert!(!g.set(2, 0, 5));
        assert_eq!(g.get(1, 1), Some(&5));
        assert_eq!(g.get(0, 2), None);
        assert_eq!(g.positions().count(), 4);
    }
}
