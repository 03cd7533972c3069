//! The shortest-solution search: a breadth-first search over single player
//! moves (walks and pushes), as LaMer's `get_shortest_action_path` does.
//!
//! It answers three questions with one search: is a level accepted at
//! generation (5 ≤ shortest ≤ 21), is a state still solvable after a move
//! (else the episode ends in a deadlock), and what the expert plays next.
//!
//! Semantics match the reference exactly: children in the order up, down,
//! left, right; states deduplicated on (player, boxes); a solution counts only
//! if its length is at most `max_depth`; of several shortest solutions the one
//! found first in that order is returned.
//!
//! It is fast because a state is a few bytes (the player and the sorted box
//! cells, as indices into the room's floor cells), visited states live in a
//! bitset when the state space is small (a hash set otherwise), buffers are
//! reused between searches, and pushes of a box onto a *dead* cell (one from
//! which no push sequence reaches any target, even ignoring other boxes) are
//! skipped. Pruning dead states never changes the answer: no solution passes
//! through them, and a state's first-found parent is never dead if the state
//! itself leads to a solution.

use rustc_hash::FxHashSet;

use crate::room::{Dir, Room, Tile, neighbor};

const NONE: u8 = u8::MAX;

/// Set membership for packed states.
#[derive(Debug, Clone)]
enum Visited {
    /// One bit per possible (player, boxes…) tuple.
    Dense(Vec<u64>),
    /// Packed states, for rooms whose state space is too large for a bitset.
    Sparse(FxHashSet<u128>),
}

/// A reusable BFS solver. Keep one per session: the room's fixed layer is
/// analysed once and the search buffers are recycled.
#[derive(Debug, Clone, Default)]
pub struct Solver {
    /// The fixed layer the tables below were built for.
    tiles: Vec<Tile>,
    rows: usize,
    cols: usize,
    /// Room cell → floor index (or `NONE` for walls).
    floor_of: Vec<u8>,
    /// Floor index → room cell.
    cell_of: Vec<usize>,
    /// Floor index → floor index of the neighbour in each direction.
    next: Vec<[u8; 4]>,
    target: Vec<bool>,
    /// A box on this floor cell can still reach some target.
    live: Vec<bool>,
    // Search buffers, reused.
    states: Vec<u8>,
    parents: Vec<u32>,
    moves: Vec<u8>,
    visited: Option<Visited>,
    dense_dims: (usize, usize),
    /// Overrides [`DENSE_LIMIT_BITS`] (tests force the hash set with 0).
    dense_limit_bits: Option<usize>,
}

/// The largest state space (in bits) kept as a bitset: 1 Mbit = 128 KiB.
const DENSE_LIMIT_BITS: usize = 1 << 20;

impl Solver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the per-room tables if the fixed layer changed.
    fn prepare(&mut self, room: &Room) {
        if self.tiles == room.tiles() && self.rows == room.rows() {
            return;
        }
        self.tiles = room.tiles().to_vec();
        self.rows = room.rows();
        self.cols = room.cols();
        self.floor_of = vec![NONE; self.tiles.len()];
        self.cell_of.clear();
        for (cell, &tile) in self.tiles.iter().enumerate() {
            // Rooms are at most 16×16, so at most 254 floor cells fit a u8;
            // extra cells (impossible with validated configs) stay walls.
            if tile != Tile::Wall && self.cell_of.len() < NONE as usize {
                self.floor_of[cell] = self.cell_of.len() as u8;
                self.cell_of.push(cell);
            }
        }
        self.next = self
            .cell_of
            .iter()
            .map(|&cell| {
                Dir::ALL.map(|d| {
                    neighbor(self.rows, self.cols, cell, d).map_or(NONE, |n| self.floor_of[n])
                })
            })
            .collect();
        self.target = self
            .cell_of
            .iter()
            .map(|&c| self.tiles[c] == Tile::Target)
            .collect();
        // Live cells: targets, then every cell a box can be pushed from onto
        // a live cell (the box at y moves in direction d to x = y + d; the
        // player stands at y − d).
        let n = self.cell_of.len();
        self.live = self.target.clone();
        let mut stack: Vec<u8> = (0..n as u8).filter(|&i| self.target[i as usize]).collect();
        while let Some(x) = stack.pop() {
            for d in Dir::ALL {
                let back = d.opposite().index();
                let y = self.next[x as usize][back];
                if y == NONE || self.live[y as usize] {
                    continue;
                }
                if self.next[y as usize][back] != NONE {
                    self.live[y as usize] = true;
                    stack.push(y);
                }
            }
        }
        self.visited = None;
    }

    /// The length of the shortest solution of at most `max_depth` moves.
    pub fn solution_length(&mut self, room: &Room, max_depth: u32) -> Option<usize> {
        self.search(room, max_depth).map(|goal| self.depth_of(goal))
    }

    /// Whether a solution of at most `max_depth` moves exists.
    pub fn is_solvable(&mut self, room: &Room, max_depth: u32) -> bool {
        self.search(room, max_depth).is_some()
    }

    /// The shortest solution of at most `max_depth` moves.
    pub fn solve(&mut self, room: &Room, max_depth: u32) -> Option<Vec<Dir>> {
        let goal = self.search(room, max_depth)?;
        let mut path = Vec::new();
        let mut at = goal;
        while at != 0 {
            path.push(Dir::ALL[self.moves[at] as usize]);
            at = self.parents[at] as usize;
        }
        path.reverse();
        Some(path)
    }

    fn depth_of(&self, mut at: usize) -> usize {
        let mut depth = 0;
        while at != 0 {
            depth += 1;
            at = self.parents[at] as usize;
        }
        depth
    }

    /// Breadth-first search; returns the index of the first goal state found.
    fn search(&mut self, room: &Room, max_depth: u32) -> Option<usize> {
        self.prepare(room);
        let mut start: Vec<u8> = Vec::with_capacity(8);
        start.push(self.floor_of[room.player()]);
        for b in room.box_cells() {
            start.push(self.floor_of[b]);
        }
        if start.contains(&NONE) {
            return None;
        }
        let stride = start.len();
        let boxes = stride - 1;
        start[1..].sort_unstable();
        self.reset_visited(stride);
        self.states.clear();
        self.parents.clear();
        self.moves.clear();
        self.states.extend_from_slice(&start);
        self.parents.push(0);
        self.moves.push(0);
        self.mark(&start);
        if self.solved(&start[1..]) {
            return Some(0);
        }
        let mut child = [0u8; 16];
        let mut head = 0usize;
        let mut depth = 0u32;
        while head < self.parents.len() {
            let level_end = self.parents.len();
            depth += 1;
            if depth > max_depth {
                return None;
            }
            while head < level_end {
                let base = head * stride;
                for d in Dir::ALL {
                    child[..stride].copy_from_slice(&self.states[base..base + stride]);
                    let player = child[0];
                    let to = self.next[player as usize][d.index()];
                    if to == NONE {
                        continue;
                    }
                    if let Some(slot) = child[1..stride].iter().position(|&b| b == to) {
                        let beyond = self.next[to as usize][d.index()];
                        if beyond == NONE
                            || !self.live[beyond as usize]
                            || child[1..stride].contains(&beyond)
                        {
                            continue;
                        }
                        child[1 + slot] = beyond;
                        sort_small(&mut child[1..stride]);
                    }
                    child[0] = to;
                    if !self.mark(&child[..stride]) {
                        continue;
                    }
                    self.states.extend_from_slice(&child[..stride]);
                    self.parents.push(head as u32);
                    self.moves.push(d.index() as u8);
                    if boxes > 0 && self.solved(&child[1..stride]) {
                        return Some(self.parents.len() - 1);
                    }
                }
                head += 1;
            }
        }
        None
    }

    fn solved(&self, boxes: &[u8]) -> bool {
        boxes.iter().all(|&b| self.target[b as usize])
    }

    fn reset_visited(&mut self, stride: usize) {
        let n = self.cell_of.len().max(1);
        let bits = (0..stride).try_fold(1usize, |acc, _| acc.checked_mul(n));
        match bits {
            Some(bits) if bits <= self.dense_limit_bits.unwrap_or(DENSE_LIMIT_BITS) => {
                let words = bits.div_ceil(64);
                match &mut self.visited {
                    Some(Visited::Dense(v)) if self.dense_dims == (n, stride) => v.fill(0),
                    _ => self.visited = Some(Visited::Dense(vec![0; words])),
                }
                self.dense_dims = (n, stride);
            }
            _ => match &mut self.visited {
                Some(Visited::Sparse(set)) => set.clear(),
                _ => self.visited = Some(Visited::Sparse(FxHashSet::default())),
            },
        }
    }

    /// Marks a state visited; false if it already was.
    fn mark(&mut self, state: &[u8]) -> bool {
        let n = self.cell_of.len().max(1);
        match &mut self.visited {
            Some(Visited::Dense(bits)) => {
                let index = state
                    .iter()
                    .rev()
                    .fold(0usize, |acc, &s| acc * n + s as usize);
                let (word, bit) = (index / 64, 1u64 << (index % 64));
                let fresh = bits[word] & bit == 0;
                bits[word] |= bit;
                fresh
            }
            Some(Visited::Sparse(set)) => {
                let key = state.iter().fold(0u128, |acc, &s| (acc << 8) | s as u128);
                set.insert(key)
            }
            None => true,
        }
    }
}

/// Insertion sort: the box list is tiny and nearly sorted after one push.
fn sort_small(items: &mut [u8]) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && items[j - 1] > items[j] {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(text: &str) -> Room {
        Room::parse(text).unwrap()
    }

    #[test]
    fn finds_a_shortest_solution_in_reference_order() {
        // Player two cells left of a box, target right of the box.
        let r = room("0: # # # # # # #\n1: # P _ X O _ #\n2: # # # # # # #");
        let mut s = Solver::new();
        assert_eq!(s.solve(&r, 100), Some(vec![Dir::Right, Dir::Right]));
        assert_eq!(s.solution_length(&r, 100), Some(2));
        assert_eq!(s.solution_length(&r, 1), None, "depth limit applies");
    }

    #[test]
    fn a_box_in_a_corner_is_a_deadlock() {
        let r = room("0: # # # # #\n1: # X _ _ #\n2: # _ P O #\n3: # # # # #");
        let mut s = Solver::new();
        assert!(!s.is_solvable(&r, 100));
    }

    #[test]
    fn solved_room_has_an_empty_solution() {
        let r = room("0: # # # #\n1: # √ P #\n2: # # # #");
        assert_eq!(Solver::new().solve(&r, 100), Some(vec![]));
    }

    #[test]
    fn replaying_the_solution_solves_the_room() {
        let text = "0: # # # # # #\n1: # _ _ P _ #\n2: # _ X O _ #\n3: # # _ X _ #\n4: # # O _ _ #\n5: # # # # # #";
        let mut r = room(text);
        let path = Solver::new().solve(&r, 100).unwrap();
        for d in &path {
            r.apply(*d);
        }
        assert!(r.is_solved());
        // The dead-cell pruning and the sparse set agree with a plain search.
        let mut s = Solver::new();
        s.prepare(&r);
        assert!(s.live.iter().any(|&l| !l), "this room has dead cells");
    }

    #[test]
    fn sparse_and_dense_visited_sets_agree() {
        let text = "0: # # # # # #\n1: # _ _ P _ #\n2: # _ X O _ #\n3: # # _ X _ #\n4: # # O _ _ #\n5: # # # # # #";
        let r = room(text);
        let expected = Solver::new().solve(&r, 100);
        assert!(expected.is_some());
        let mut sparse = Solver {
            dense_limit_bits: Some(0),
            ..Solver::default()
        };
        assert_eq!(sparse.solve(&r, 100), expected);
        assert!(matches!(sparse.visited, Some(Visited::Sparse(_))));
    }
}
