//! The expert: exact probabilistic inference over what the agent can see.
//!
//! Hidden cells next to an open number form the *frontier*; every open number
//! says how many of its hidden neighbours are mines, and the board holds a
//! known number of mines in total. The solver enumerates every assignment of
//! mines to the frontier that satisfies all numbers (backtracking with
//! pruning; boards are small), weighs each by the number of ways to place the
//! remaining mines on the other hidden cells, `C(others, mines − k)`, and
//! derives for every hidden cell the exact probability of a mine and of a zero
//! (the cell and all its hidden neighbours safe, i.e. a cascade).
//!
//! The move: the cell with the lowest mine probability — a certainly safe one
//! when it exists — preferring, among equally safe cells, the likeliest
//! cascade, then the lowest row-major index. If the enumeration would exceed
//! its budget, it falls back to the single-cell rules plus the uniform density
//! of mines.
//!
//! It only reads what the agent sees (the open numbers and the mine count),
//! never the hidden mines.

use crate::board::{Board, Shown};

/// Frontier assignments explored before falling back to the simple rules.
const NODE_BUDGET: usize = 2_000_000;
const EPSILON: f64 = 1e-12;

/// A hidden cell with its mine and cascade probabilities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellOdds {
    pub cell: usize,
    pub mine: f64,
    pub zero: f64,
}

/// The expert's choice: the cell to open.
pub fn best_cell(board: &Board) -> Option<usize> {
    let odds = cell_odds(board);
    odds.into_iter()
        .min_by(|a, b| {
            let mine = a.mine.total_cmp(&b.mine);
            if (a.mine - b.mine).abs() > EPSILON {
                return mine;
            }
            b.zero.total_cmp(&a.zero).then_with(|| a.cell.cmp(&b.cell))
        })
        .map(|o| o.cell)
}

/// Mine and cascade probabilities of every hidden cell, row-major.
pub fn cell_odds(board: &Board) -> Vec<CellOdds> {
    let hidden: Vec<usize> = (0..board.cells())
        .filter(|&c| board.shown(c) == Shown::Hidden)
        .collect();
    if hidden.is_empty() {
        return Vec::new();
    }
    let problem = Problem::new(board);
    problem
        .enumerate()
        .unwrap_or_else(|| problem.density_fallback())
}

/// The constraint problem seen from the open cells.
struct Problem<'a> {
    board: &'a Board,
    /// Frontier cells (hidden, next to an open number), row-major.
    frontier: Vec<usize>,
    /// Cell → index in `frontier`.
    frontier_of: Vec<Option<usize>>,
    /// Hidden cells not on the frontier.
    others: Vec<usize>,
    /// For each open number with hidden neighbours: (frontier indices, mines needed).
    constraints: Vec<(Vec<usize>, usize)>,
    /// Frontier index → constraints it appears in.
    constraints_of: Vec<Vec<usize>>,
    total_mines: usize,
}

impl<'a> Problem<'a> {
    fn new(board: &'a Board) -> Self {
        let cells = board.cells();
        let mut frontier_of = vec![None; cells];
        let mut frontier = Vec::new();
        for (cell, slot) in frontier_of.iter_mut().enumerate() {
            if board.shown(cell) == Shown::Hidden
                && board.neighbors(cell).any(|n| board.shown(n) == Shown::Open)
            {
                *slot = Some(frontier.len());
                frontier.push(cell);
            }
        }
        let others = (0..cells)
            .filter(|&c| board.shown(c) == Shown::Hidden && frontier_of[c].is_none())
            .collect();
        let mut constraints = Vec::new();
        let mut constraints_of = vec![Vec::new(); frontier.len()];
        for cell in 0..cells {
            if board.shown(cell) != Shown::Open {
                continue;
            }
            let vars: Vec<usize> = board
                .neighbors(cell)
                .filter_map(|n| frontier_of[n])
                .collect();
            if vars.is_empty() {
                continue;
            }
            for &v in &vars {
                constraints_of[v].push(constraints.len());
            }
            constraints.push((vars, board.count(cell) as usize));
        }
        Problem {
            board,
            frontier,
            frontier_of,
            others,
            constraints,
            constraints_of,
            total_mines: board.mines(),
        }
    }

    /// Exact enumeration; `None` when over budget.
    fn enumerate(&self) -> Option<Vec<CellOdds>> {
        let n = self.frontier.len();
        let mut search = Search {
            problem: self,
            assignment: vec![false; n],
            placed: vec![0; self.constraints.len()],
            open_vars: self.constraints.iter().map(|(v, _)| v.len()).collect(),
            mines: 0,
            nodes: 0,
            leaves: Vec::new(),
        };
        if !search.descend(0) {
            return None;
        }
        let leaves = search.leaves;
        let u = self.others.len();
        let mut total = 0.0;
        let mut mine = vec![0.0; self.board.cells()];
        let mut zero = vec![0.0; self.board.cells()];
        let hidden: Vec<usize> = (0..self.board.cells())
            .filter(|&c| self.board.shown(c) == Shown::Hidden)
            .collect();
        for (assignment, k) in &leaves {
            let Some(rest) = self.total_mines.checked_sub(*k) else {
                continue;
            };
            if rest > u {
                continue;
            }
            let weight = binomial(u, rest);
            if weight == 0.0 {
                continue;
            }
            total += weight;
            let other_mine = if u == 0 { 0.0 } else { rest as f64 / u as f64 };
            for &cell in &hidden {
                // The cell itself and its hidden neighbours must all be safe
                // for a zero: frontier ones by the assignment, the others by
                // the combinatorics of the remaining mines.
                let mut frontier_mine = false;
                let mut other_cells = 0;
                for c in std::iter::once(cell).chain(self.board.neighbors(cell)) {
                    if self.board.shown(c) != Shown::Hidden {
                        continue;
                    }
                    match self.frontier_of[c] {
                        Some(i) => frontier_mine |= assignment[i],
                        None => other_cells += 1,
                    }
                }
                match self.frontier_of[cell] {
                    Some(i) => {
                        if assignment[i] {
                            mine[cell] += weight;
                        }
                    }
                    None => mine[cell] += weight * other_mine,
                }
                if !frontier_mine && other_cells <= u && rest <= u - other_cells {
                    zero[cell] += binomial(u - other_cells, rest);
                }
            }
        }
        if total == 0.0 {
            return None;
        }
        Some(
            hidden
                .iter()
                .map(|&cell| CellOdds {
                    cell,
                    mine: mine[cell] / total,
                    zero: zero[cell] / total,
                })
                .collect(),
        )
    }

    /// Single-cell rules (a number already satisfied makes its neighbours
    /// safe; one needing all its hidden neighbours makes them mines), else
    /// the uniform density.
    fn density_fallback(&self) -> Vec<CellOdds> {
        let mut safe = vec![false; self.board.cells()];
        let mut sure_mine = vec![false; self.board.cells()];
        for (vars, need) in &self.constraints {
            if *need == 0 {
                vars.iter().for_each(|&v| safe[self.frontier[v]] = true);
            } else if *need == vars.len() {
                vars.iter()
                    .for_each(|&v| sure_mine[self.frontier[v]] = true);
            }
        }
        let hidden = (0..self.board.cells()).filter(|&c| self.board.shown(c) == Shown::Hidden);
        let count = hidden.clone().count().max(1);
        let density = self.total_mines as f64 / count as f64;
        hidden
            .map(|cell| CellOdds {
                cell,
                mine: if safe[cell] {
                    0.0
                } else if sure_mine[cell] {
                    1.0
                } else {
                    density
                },
                zero: 0.0,
            })
            .collect()
    }
}

/// Backtracking over the frontier in row-major order.
struct Search<'p, 'a> {
    problem: &'p Problem<'a>,
    assignment: Vec<bool>,
    /// Mines placed so far per constraint.
    placed: Vec<usize>,
    /// Variables of each constraint not yet assigned.
    open_vars: Vec<usize>,
    mines: usize,
    nodes: usize,
    /// Consistent frontier assignments with their mine count.
    leaves: Vec<(Vec<bool>, usize)>,
}

impl Search<'_, '_> {
    /// Returns false when the budget ran out.
    fn descend(&mut self, index: usize) -> bool {
        self.nodes += 1;
        if self.nodes > NODE_BUDGET {
            return false;
        }
        if index == self.assignment.len() {
            self.leaves.push((self.assignment.clone(), self.mines));
            return true;
        }
        for value in [false, true] {
            if value && self.mines >= self.problem.total_mines {
                continue;
            }
            if self.assign(index, value) && !self.descend(index + 1) {
                return false;
            }
            self.unassign(index, value);
        }
        true
    }

    /// Assigns a variable; false if a constraint becomes unsatisfiable (the
    /// bookkeeping is still applied so `unassign` undoes it uniformly).
    fn assign(&mut self, index: usize, mine: bool) -> bool {
        self.assignment[index] = mine;
        self.mines += usize::from(mine);
        let mut ok = true;
        for &c in &self.problem.constraints_of[index] {
            self.placed[c] += usize::from(mine);
            self.open_vars[c] -= 1;
            let need = self.problem.constraints[c].1;
            if self.placed[c] > need || self.placed[c] + self.open_vars[c] < need {
                ok = false;
            }
        }
        ok
    }

    fn unassign(&mut self, index: usize, mine: bool) {
        self.assignment[index] = false;
        self.mines -= usize::from(mine);
        for &c in &self.problem.constraints_of[index] {
            self.placed[c] -= usize::from(mine);
            self.open_vars[c] += 1;
        }
    }
}

/// `C(n, k)` as a float (exact for the board sizes used here).
fn binomial(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    let k = k.min(n - k);
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomials() {
        assert_eq!(binomial(5, 2), 10.0);
        assert_eq!(binomial(33, 0), 1.0);
        assert_eq!(binomial(3, 4), 0.0);
    }

    #[test]
    fn cells_outside_a_satisfied_frontier_are_safe() {
        // 3×3, one mine in the corner (0). Cell 1 shows 1: the mine is one of
        // 0, 2, 3, 4, 5, so 6, 7, 8 are certainly safe.
        let mut b = Board::new(3, 3, &[0]);
        assert_eq!(b.reveal(1), 1);
        let odds = cell_odds(&b);
        let get = |c: usize| *odds.iter().find(|o| o.cell == c).unwrap();
        assert!((get(0).mine - 0.2).abs() < 1e-9);
        assert_eq!(get(7).mine, 0.0);
        // 6 and 8 are zeros when 3, 4 (resp. 4, 5) are safe: 3/5; 7 needs
        // 3, 4, 5 safe: 2/5. The tie goes to the lower index.
        assert!((get(6).zero - 0.6).abs() < 1e-9);
        assert!((get(7).zero - 0.4).abs() < 1e-9);
        assert_eq!(best_cell(&b), Some(6));
    }

    #[test]
    fn probabilities_are_exact_for_a_symmetric_guess() {
        // 2×3, mine at 5: opening 0 (a zero) opens 0, 1, 3, 4.
        let mut b = Board::new(2, 3, &[5]);
        b.reveal(0);
        // Hidden: 2 and 5; cell 1 shows 1 (neighbours 2, 5), cell 4 shows 1.
        let odds = cell_odds(&b);
        assert_eq!(odds.len(), 2);
        for o in &odds {
            assert!((o.mine - 0.5).abs() < 1e-9, "{o:?}");
        }
        assert_eq!(best_cell(&b), Some(2), "ties go to the lowest index");
    }

    #[test]
    fn prefers_likely_cascades_among_safe_cells() {
        // 1×5 strip: mine at 0; open cell 1 (shows 1).
        let mut b = Board::new(1, 5, &[0]);
        b.reveal(1);
        let odds = cell_odds(&b);
        let safe: Vec<usize> = odds
            .iter()
            .filter(|o| o.mine == 0.0)
            .map(|o| o.cell)
            .collect();
        assert_eq!(safe, vec![3, 4], "the mine is 0 or 2");
        // 4 is a zero whichever it is; 3 only if the mine is 0.
        assert_eq!(best_cell(&b), Some(4));
    }
}
