//! Level generation by reverse play, as LaMer (and RAGEN) generate Sokoban
//! levels.
//!
//! 1. **Topology.** A random walk of `int(1.7 × (rows + cols))` steps starts at
//!    a uniform cell with a uniform heading, changes heading with probability
//!    0.35 per step, clamps to the interior, and stamps one of five 3×3 floor
//!    masks (a horizontal bar, a vertical bar, two L shapes, a 2×2 block) on
//!    its position. The outer ring is wall.
//! 2. **Placement.** The player goes on a uniform floor cell, then each box on
//!    a uniform remaining floor cell, which becomes a target holding the box
//!    (the solved state). Too few floor cells is a generation failure.
//! 3. **Reverse play.** A depth-first search from the solved state over
//!    "pull moves" (up, down, left, right): the player steps onto a free cell
//!    and a box directly behind it follows. Each state scores
//!    `box_swaps × Σ Manhattan(box, its origin target)` (0 unless every target
//!    is visibly empty); the first state with a strictly higher score is kept.
//!    States are deduplicated on the exact grid (including whether a box has
//!    ever been pulled, as the reference's cell codes do), the depth is
//!    `search_depth − 1` levels, and at most 300,000 states are explored.
//!    Steps 1–3 are tried up to 4 times until the score is positive, else the
//!    generation fails.
//! 4. **Player walk.** With probability 0.8 (total displacement 1) or 0.5, the
//!    player walks 1–3 steps to unvisited free cells, continuing with
//!    probability 0.5 after each.
//! 5. **Acceptance.** Up to 10 levels are generated from the same random
//!    stream; the first whose shortest solution (BFS, ≤ `search_depth`) has a
//!    length in `min..=max` is used, else the last one.
//!
//! On a generation failure LaMer retries the whole reset with the seed
//! `abs(hash(str(seed))) % 2^32`, which depends on Python's per-process string
//! hash and is therefore not reproducible. Here the retry seed is
//! `mix_seed(seed, RESEED_SALT)`, chained, so every level is a pure function of
//! the task seed.
//!
//! All draws come from one [`SeededRng`] stream per seed, where the reference
//! draws from Python's `random` (topology, walk) and numpy's legacy RNG
//! (placement), both seeded with the task seed. The algorithm is the same;
//! the levels for a given seed are not the reference's levels.

use lamer_sdk::{SeededRng, mix_seed};
use rustc_hash::FxHashSet;

use crate::room::{Dir, Room, Tile, neighbor};
use crate::solver::Solver;

/// Levels generated per reset before the last one is used anyway.
pub const ACCEPTANCE_ATTEMPTS: u32 = 10;
/// Topology + reverse-play tries per level before the generation fails.
pub const TOPOLOGY_TRIES: u32 = 4;
/// The reverse-play search explores at most this many distinct states.
pub const REVERSE_PLAY_STATE_CAP: usize = 300_000;
/// Salt for the deterministic retry seed after a generation failure.
pub const RESEED_SALT: u64 = 0x50_6B_6F_62_61_6E; // "Sokoban"-ish
/// Reseeds before giving up (only reachable with degenerate configs).
pub const MAX_RESEEDS: u32 = 64;

/// What the generator needs from the config.
#[derive(Debug, Clone, Copy)]
pub struct LevelParams {
    pub rows: usize,
    pub cols: usize,
    pub boxes: usize,
    pub search_depth: u32,
    pub min_solution_length: usize,
    pub max_solution_length: usize,
}

/// A generated level and how it was obtained.
#[derive(Debug, Clone)]
pub struct Level {
    pub room: Room,
    /// The shortest solution length (`None`: none within `search_depth`).
    pub solution_length: Option<usize>,
    /// Which of the up-to-10 acceptance attempts produced it (1-based).
    pub attempts: u32,
    /// False when no attempt qualified and the last one was used.
    pub accepted: bool,
    /// How many failed generations forced a new seed.
    pub reseeds: u32,
}

/// Why one generation failed (the reference's RuntimeError / RuntimeWarning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenerationFailure {
    NotEnoughFloor,
    ZeroScore,
}

/// Generates the level of a seed. Errors only if `MAX_RESEEDS` consecutive
/// seeds fail, which validated configs never hit in practice.
pub fn generate_level(
    seed: u64,
    params: &LevelParams,
    solver: &mut Solver,
) -> Result<Level, GenerationFailure> {
    let mut current = seed;
    let mut last_failure = GenerationFailure::ZeroScore;
    for reseeds in 0..=MAX_RESEEDS {
        match generate_from_seed(current, params, solver) {
            Ok(mut level) => {
                level.reseeds = reseeds;
                return Ok(level);
            }
            Err(failure) => {
                last_failure = failure;
                current = mix_seed(current, RESEED_SALT);
            }
        }
    }
    Err(last_failure)
}

/// LaMer's reset loop for one seed: up to 10 levels, accept the first whose
/// shortest solution is in range, else keep the last.
fn generate_from_seed(
    seed: u64,
    params: &LevelParams,
    solver: &mut Solver,
) -> Result<Level, GenerationFailure> {
    let mut rng = SeededRng::new(seed);
    let mut search = ReversePlay::default();
    let mut level = None;
    for attempt in 1..=ACCEPTANCE_ATTEMPTS {
        let room = generate_room(&mut rng, params, &mut search)?;
        let solution_length = solver.solution_length(&room, params.search_depth);
        let accepted = solution_length.is_some_and(|n| {
            (params.min_solution_length..=params.max_solution_length).contains(&n)
        });
        level = Some(Level {
            room,
            solution_length,
            attempts: attempt,
            accepted,
            reseeds: 0,
        });
        if accepted {
            break;
        }
    }
    level.ok_or(GenerationFailure::ZeroScore)
}

/// One level: topology, placement, reverse play (up to 4 tries), player walk.
fn generate_room(
    rng: &mut SeededRng,
    params: &LevelParams,
    search: &mut ReversePlay,
) -> Result<Room, GenerationFailure> {
    let (rows, cols) = (params.rows, params.cols);
    let steps = (1.7 * (rows + cols) as f64) as usize;
    let mut outcome = None;
    for _ in 0..TOPOLOGY_TRIES {
        let tiles = room_topology(rng, rows, cols, steps);
        let (tiles, player, targets) = place_player_and_boxes(rng, tiles, params.boxes)?;
        let best = search.run(rows, cols, &tiles, player, &targets, params.search_depth);
        let positive = best.displacement > 0;
        outcome = Some((tiles, best));
        if positive {
            break;
        }
    }
    let Some((tiles, best)) = outcome.filter(|(_, best)| best.displacement > 0) else {
        return Err(GenerationFailure::ZeroScore);
    };
    let mut room = Room::new(rows, cols, tiles, &best.boxes, best.player);
    let walk_probability = if best.displacement == 1 { 0.8 } else { 0.5 };
    random_player_walk(rng, &mut room, walk_probability);
    Ok(room)
}

/// The five 3×3 floor masks, as (row, col) offsets from the walk position.
const MASKS: [&[(isize, isize)]; 5] = [
    &[(0, -1), (0, 0), (0, 1)],          // horizontal bar
    &[(-1, 0), (0, 0), (1, 0)],          // vertical bar
    &[(0, -1), (0, 0), (1, 0)],          // L: left and down
    &[(0, -1), (0, 0), (1, -1), (1, 0)], // 2×2 block, down-left
    &[(0, 0), (0, 1), (1, 0)],           // L: right and down
];

/// Headings in the reference's order: down, right, up, left.
const HEADINGS: [(isize, isize); 4] = [(1, 0), (0, 1), (-1, 0), (0, -1)];

fn room_topology(rng: &mut SeededRng, rows: usize, cols: usize, steps: usize) -> Vec<Tile> {
    let mut floor = vec![false; rows * cols];
    let mut heading = HEADINGS[rng.index(4)];
    let mut r = rng.range_inclusive(1, rows as i64 - 1) as isize;
    let mut c = rng.range_inclusive(1, cols as i64 - 1) as isize;
    for _ in 0..steps {
        if rng.chance(0.35) {
            heading = HEADINGS[rng.index(4)];
        }
        r = (r + heading.0).clamp(1, rows as isize - 2);
        c = (c + heading.1).clamp(1, cols as isize - 2);
        for &(dr, dc) in MASKS[rng.index(MASKS.len())] {
            // The clamp keeps every mask cell inside the grid.
            floor[(r + dr) as usize * cols + (c + dc) as usize] = true;
        }
    }
    (0..rows * cols)
        .map(|cell| {
            let (row, col) = (cell / cols, cell % cols);
            let border = row == 0 || col == 0 || row == rows - 1 || col == cols - 1;
            if floor[cell] && !border {
                Tile::Floor
            } else {
                Tile::Wall
            }
        })
        .collect()
}

/// Places the player and the boxes (on their targets). Returns the fixed
/// layer with targets, the player cell and the targets in row-major order.
fn place_player_and_boxes(
    rng: &mut SeededRng,
    mut tiles: Vec<Tile>,
    boxes: usize,
) -> Result<(Vec<Tile>, usize, Vec<usize>), GenerationFailure> {
    let floor: Vec<usize> = (0..tiles.len())
        .filter(|&c| tiles[c] == Tile::Floor)
        .collect();
    if floor.len() <= boxes + 1 {
        return Err(GenerationFailure::NotEnoughFloor);
    }
    let player = floor[rng.index(floor.len())];
    let mut taken = vec![player];
    for _ in 0..boxes {
        let free: Vec<usize> = floor
            .iter()
            .copied()
            .filter(|c| !taken.contains(c))
            .collect();
        let cell = free[rng.index(free.len())];
        tiles[cell] = Tile::Target;
        taken.push(cell);
    }
    let targets = (0..tiles.len())
        .filter(|&c| tiles[c] == Tile::Target)
        .collect();
    Ok((tiles, player, targets))
}

/// The best state of a reverse-play search.
#[derive(Debug, Clone, Default)]
struct Best {
    score: i64,
    player: usize,
    boxes: Vec<usize>,
    displacement: i64,
}

/// The reverse-play depth-first search, with its buffers.
#[derive(Debug, Default)]
struct ReversePlay {
    rows: usize,
    cols: usize,
    tiles: Vec<Tile>,
    targets: Vec<usize>,
    player: usize,
    /// Box id (index of its origin target) → current cell.
    boxes: Vec<usize>,
    /// Box id → has been pulled at least once (the reference's code 3 vs 4).
    pulled: Vec<bool>,
    /// Cell → box id + 1 (0: no box).
    occupant: Vec<u8>,
    explored: FxHashSet<u128>,
    /// The best state so far; its score starts at −1 so the root is taken.
    best: Best,
}

impl ReversePlay {
    fn run(
        &mut self,
        rows: usize,
        cols: usize,
        tiles: &[Tile],
        player: usize,
        targets: &[usize],
        search_depth: u32,
    ) -> Best {
        self.rows = rows;
        self.cols = cols;
        self.tiles.clear();
        self.tiles.extend_from_slice(tiles);
        self.targets.clear();
        self.targets.extend_from_slice(targets);
        self.player = player;
        self.boxes.clear();
        self.boxes.extend_from_slice(targets);
        self.pulled.clear();
        self.pulled.resize(targets.len(), false);
        self.occupant.clear();
        self.occupant.resize(tiles.len(), 0);
        for (id, &cell) in targets.iter().enumerate() {
            self.occupant[cell] = id as u8 + 1;
        }
        self.explored.clear();
        self.best = Best {
            score: -1,
            ..Best::default()
        };
        self.dfs(0, None, search_depth as i64);
        std::mem::take(&mut self.best)
    }

    fn key(&self) -> u128 {
        let mut boxes: [u16; 16] = [0; 16];
        let n = self.boxes.len();
        for (slot, (&cell, &pulled)) in boxes.iter_mut().zip(self.boxes.iter().zip(&self.pulled)) {
            *slot = ((cell as u16) << 1) | pulled as u16;
        }
        boxes[..n].sort_unstable();
        boxes[..n]
            .iter()
            .fold(self.player as u128, |acc, &b| (acc << 9) | b as u128)
    }

    fn displacement(&self) -> i64 {
        self.boxes
            .iter()
            .zip(&self.targets)
            .map(|(&b, &t)| {
                let (br, bc) = ((b / self.cols) as i64, (b % self.cols) as i64);
                let (tr, tc) = ((t / self.cols) as i64, (t % self.cols) as i64);
                (br - tr).abs() + (bc - tc).abs()
            })
            .sum()
    }

    fn all_targets_visible(&self) -> bool {
        self.targets
            .iter()
            .all(|&t| self.occupant[t] == 0 && self.player != t)
    }

    fn dfs(&mut self, box_swaps: i64, last_pull: Option<usize>, ttl: i64) {
        let ttl = ttl - 1;
        if ttl <= 0 || self.explored.len() >= REVERSE_PLAY_STATE_CAP {
            return;
        }
        if !self.explored.insert(self.key()) {
            return;
        }
        let displacement = self.displacement();
        let score = if self.all_targets_visible() {
            box_swaps * displacement
        } else {
            0
        };
        if score > self.best.score {
            self.best = Best {
                score,
                player: self.player,
                boxes: self.boxes.clone(),
                displacement,
            };
        }
        for dir in Dir::ALL {
            let Some(next) = neighbor(self.rows, self.cols, self.player, dir) else {
                continue;
            };
            if self.tiles[next] == Tile::Wall || self.occupant[next] != 0 {
                // Blocked: the reference recurses into the identical, already
                // explored state, which returns at once.
                continue;
            }
            let from = self.player;
            let behind = neighbor(self.rows, self.cols, from, dir.opposite());
            let pulled = behind
                .filter(|&b| self.occupant[b] != 0)
                .map(|b| (self.occupant[b] - 1) as usize);
            self.player = next;
            let mut was_pulled = false;
            if let (Some(id), Some(b)) = (pulled, behind) {
                self.occupant[b] = 0;
                self.occupant[from] = id as u8 + 1;
                self.boxes[id] = from;
                was_pulled = self.pulled[id];
                self.pulled[id] = true;
            }
            let next_last = pulled.or(last_pull);
            let swaps = box_swaps + i64::from(next_last != last_pull);
            self.dfs(swaps, next_last, ttl);
            // Undo.
            if let (Some(id), Some(b)) = (pulled, behind) {
                self.occupant[from] = 0;
                self.occupant[b] = id as u8 + 1;
                self.boxes[id] = b;
                self.pulled[id] = was_pulled;
            }
            self.player = from;
        }
    }
}

/// LaMer's random player walk after reverse play: with probability
/// `probability`, 1–3 steps to unvisited free cells, continuing with
/// probability 0.5 after each.
fn random_player_walk(rng: &mut SeededRng, room: &mut Room, probability: f64) {
    if rng.unit() > probability {
        return;
    }
    let mut visited = vec![room.player()];
    for step in 1..=3 {
        let moves: Vec<Dir> = Dir::ALL
            .into_iter()
            .filter(|&d| {
                room.neighbor(room.player(), d).is_some_and(|n| {
                    room.tiles()[n] != Tile::Wall && !room.has_box(n) && !visited.contains(&n)
                })
            })
            .collect();
        let Some(&dir) = rng.choose(&moves) else {
            break;
        };
        room.apply(dir);
        visited.push(room.player());
        if step >= 3 || rng.unit() > 0.5 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(boxes: usize) -> LevelParams {
        LevelParams {
            rows: 6,
            cols: 6,
            boxes,
            search_depth: 100,
            min_solution_length: 5,
            max_solution_length: 21,
        }
    }

    #[test]
    fn same_seed_same_level() {
        let mut solver = Solver::new();
        let a = generate_level(7, &params(2), &mut solver).unwrap();
        let b = generate_level(7, &params(2), &mut Solver::new()).unwrap();
        assert_eq!(a.room, b.room);
        let c = generate_level(8, &params(2), &mut solver).unwrap();
        assert_ne!(a.room, c.room);
    }

    #[test]
    fn levels_have_walls_around_and_boxes_off_target() {
        let mut solver = Solver::new();
        for seed in 0..20 {
            let level = generate_level(seed, &params(2), &mut solver).unwrap();
            let room = &level.room;
            assert_eq!(room.box_cells().count(), 2);
            assert_eq!(room.boxes_on_target(), 0, "seed {seed}");
            for cell in 0..36 {
                let (r, c) = (cell / 6, cell % 6);
                if r == 0 || c == 0 || r == 5 || c == 5 {
                    assert_eq!(room.tiles()[cell], Tile::Wall);
                }
            }
            assert_ne!(room.tiles()[room.player()], Tile::Wall);
        }
    }

    #[test]
    fn topology_stays_inside_the_border() {
        let mut rng = SeededRng::new(3);
        let tiles = room_topology(&mut rng, 6, 6, 20);
        assert!(tiles.contains(&Tile::Floor));
        assert!(tiles[..6].iter().all(|&t| t == Tile::Wall));
    }

    #[test]
    fn placement_fails_without_room() {
        let mut rng = SeededRng::new(1);
        let mut tiles = vec![Tile::Wall; 16];
        tiles[5] = Tile::Floor;
        tiles[6] = Tile::Floor;
        tiles[9] = Tile::Floor;
        assert_eq!(
            place_player_and_boxes(&mut rng, tiles, 2).err(),
            Some(GenerationFailure::NotEnoughFloor)
        );
    }

    #[test]
    fn reverse_play_pulls_a_box_away() {
        // A corridor: target at (1,2), player right of it at (1,3).
        let room = Room::parse("0: # # # # # # #\n1: # _ O P _ _ #\n2: # # # # # # #").unwrap();
        let targets: Vec<usize> = vec![9];
        let mut search = ReversePlay::default();
        let best = search.run(3, 7, room.tiles(), 10, &targets, 100);
        // Pulling right moves the box off its target: 1 swap × distance.
        assert!(best.displacement >= 1);
        assert_eq!(best.score, best.displacement);
        assert!(!best.boxes.contains(&9));
    }
}
