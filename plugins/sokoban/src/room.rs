//! A Sokoban room: the fixed layer (walls, floor, targets) plus the movable
//! layer (boxes, the player), the gym-sokoban move rule, and LaMer's
//! `text_with_row_numbers` rendering.
//!
//! Cells are addressed row-major by a single `usize`. Rooms are surrounded by
//! walls, but every neighbour lookup is still bounds-checked so a malformed
//! room can never index out of range.

/// A cell of the fixed layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tile {
    Wall,
    Floor,
    Target,
}

/// The four moves, in the reference's order (up, down, left, right). The
/// order matters: the solver and the generator try children in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    Up,
    Down,
    Left,
    Right,
}

impl Dir {
    pub const ALL: [Dir; 4] = [Dir::Up, Dir::Down, Dir::Left, Dir::Right];

    /// The lower-case word the agent uses.
    pub fn name(self) -> &'static str {
        match self {
            Dir::Up => "up",
            Dir::Down => "down",
            Dir::Left => "left",
            Dir::Right => "right",
        }
    }

    /// (row, col) delta.
    pub fn delta(self) -> (isize, isize) {
        match self {
            Dir::Up => (-1, 0),
            Dir::Down => (1, 0),
            Dir::Left => (0, -1),
            Dir::Right => (0, 1),
        }
    }

    pub fn opposite(self) -> Dir {
        match self {
            Dir::Up => Dir::Down,
            Dir::Down => Dir::Up,
            Dir::Left => Dir::Right,
            Dir::Right => Dir::Left,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The neighbour of `cell` in `dir` inside a `rows × cols` grid.
pub fn neighbor(rows: usize, cols: usize, cell: usize, dir: Dir) -> Option<usize> {
    let (dr, dc) = dir.delta();
    let r = (cell / cols) as isize + dr;
    let c = (cell % cols) as isize + dc;
    (r >= 0 && c >= 0 && (r as usize) < rows && (c as usize) < cols)
        .then(|| r as usize * cols + c as usize)
}

/// A room in play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    rows: usize,
    cols: usize,
    tiles: Vec<Tile>,
    boxes: Vec<bool>,
    player: usize,
}

impl Room {
    /// Builds a room; `boxes` and `player` are cell indices.
    pub fn new(rows: usize, cols: usize, tiles: Vec<Tile>, boxes: &[usize], player: usize) -> Self {
        let mut occupancy = vec![false; tiles.len()];
        for &b in boxes {
            occupancy[b] = true;
        }
        Room {
            rows,
            cols,
            tiles,
            boxes: occupancy,
            player,
        }
    }

    /// Parses the rendered text back into a room (tests and fixtures).
    pub fn parse(text: &str) -> Option<Room> {
        let mut tiles = Vec::new();
        let mut boxes = Vec::new();
        let mut player = None;
        let mut rows = 0;
        let mut cols = None;
        for line in text.lines() {
            let body = line.split_once(':').map_or(line, |(_, b)| b);
            let glyphs: Vec<char> = body.chars().filter(|c| !c.is_whitespace()).collect();
            if *cols.get_or_insert(glyphs.len()) != glyphs.len() {
                return None;
            }
            for g in glyphs {
                let cell = tiles.len();
                let tile = match g {
                    '#' => Tile::Wall,
                    '_' | 'X' | 'P' => Tile::Floor,
                    'O' | '√' | 'S' => Tile::Target,
                    _ => return None,
                };
                if matches!(g, 'X' | '√') {
                    boxes.push(cell);
                }
                if matches!(g, 'P' | 'S') {
                    player = Some(cell);
                }
                tiles.push(tile);
            }
            rows += 1;
        }
        Some(Room::new(rows, cols?, tiles, &boxes, player?))
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn tiles(&self) -> &[Tile] {
        &self.tiles
    }

    pub fn player(&self) -> usize {
        self.player
    }

    pub fn has_box(&self, cell: usize) -> bool {
        self.boxes[cell]
    }

    /// Box cells in row-major order.
    pub fn box_cells(&self) -> impl Iterator<Item = usize> + '_ {
        self.boxes
            .iter()
            .enumerate()
            .filter_map(|(i, &b)| b.then_some(i))
    }

    pub fn neighbor(&self, cell: usize, dir: Dir) -> Option<usize> {
        neighbor(self.rows, self.cols, cell, dir)
    }

    /// Targets covered by a box. gym-sokoban counts `boxes − uncovered
    /// targets`; with as many targets as boxes that is the same number.
    pub fn boxes_on_target(&self) -> usize {
        self.tiles
            .iter()
            .zip(&self.boxes)
            .filter(|&(&t, &b)| t == Tile::Target && b)
            .count()
    }

    /// Every target holds a box.
    pub fn is_solved(&self) -> bool {
        self.tiles
            .iter()
            .zip(&self.boxes)
            .all(|(&t, &b)| t != Tile::Target || b)
    }

    /// Whether a cell can take the player or a box: floor or target, no box.
    fn is_free(&self, cell: usize) -> bool {
        self.tiles[cell] != Tile::Wall && !self.boxes[cell]
    }

    /// gym-sokoban's push action: push the adjacent box if the cell beyond it
    /// is free, else walk if the neighbour is free, else stay. Returns whether
    /// the player moved.
    pub fn apply(&mut self, dir: Dir) -> bool {
        let Some(next) = self.neighbor(self.player, dir) else {
            return false;
        };
        if self.boxes[next] {
            match self.neighbor(next, dir) {
                Some(beyond) if self.is_free(beyond) => {
                    self.boxes[next] = false;
                    self.boxes[beyond] = true;
                    self.player = next;
                    true
                }
                _ => false,
            }
        } else if self.tiles[next] != Tile::Wall {
            self.player = next;
            true
        } else {
            false
        }
    }

    /// The glyph of one cell: `# _ O √ X P S`.
    pub fn glyph(&self, cell: usize) -> char {
        let player = cell == self.player;
        match (self.tiles[cell], self.boxes[cell], player) {
            (Tile::Wall, _, _) => '#',
            (Tile::Floor, true, _) => 'X',
            (Tile::Floor, false, true) => 'P',
            (Tile::Floor, false, false) => '_',
            (Tile::Target, true, _) => '√',
            (Tile::Target, false, true) => 'S',
            (Tile::Target, false, false) => 'O',
        }
    }

    /// LaMer's `text_with_row_numbers`: `"0: # # # # # #"` per row, 0-based row
    /// numbers, no trailing newline.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(self.rows * (4 + 3 * self.cols));
        for r in 0..self.rows {
            if r > 0 {
                out.push('\n');
            }
            out.push_str(&r.to_string());
            out.push(':');
            for c in 0..self.cols {
                out.push(' ');
                out.push(self.glyph(r * self.cols + c));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOM: &str = "0: # # # # # #\n1: # _ _ P _ #\n2: # _ X O _ #\n3: # # _ X _ #\n4: # # O _ _ #\n5: # # # # # #";

    #[test]
    fn parse_render_round_trip() {
        let room = Room::parse(ROOM).unwrap();
        assert_eq!(room.render(), ROOM);
        assert_eq!(room.boxes_on_target(), 0);
        assert!(!room.is_solved());
    }

    #[test]
    fn glyphs_cover_all_seven_codes() {
        let room = Room::parse("0: # _ O\n1: √ X S").unwrap();
        let glyphs: String = (0..6).map(|c| room.glyph(c)).collect();
        assert_eq!(glyphs, "#_O√XS");
        let room = Room::parse("0: P").unwrap();
        assert_eq!(room.glyph(0), 'P');
    }

    #[test]
    fn push_walk_and_block() {
        let mut room = Room::parse(ROOM).unwrap();
        // Player at (1,3); down pushes nothing: (2,3) is an empty target.
        assert!(room.apply(Dir::Down));
        assert_eq!(room.glyph(2 * 6 + 3), 'S');
        // Down again pushes the box at (3,3) to (4,3).
        assert!(room.apply(Dir::Down));
        assert!(room.has_box(4 * 6 + 3));
        // Down once more: the box would go into the wall, nothing moves.
        assert!(!room.apply(Dir::Down));
        assert_eq!(room.player(), 3 * 6 + 3);
        // Walking into a wall does nothing.
        let mut room = Room::parse("0: # # #\n1: # P #\n2: # # #").unwrap();
        assert!(!room.apply(Dir::Up));
    }

    #[test]
    fn a_box_cannot_push_another_box() {
        let mut room = Room::parse("0: # # # # # #\n1: # P X X _ #\n2: # # # # # #").unwrap();
        assert!(!room.apply(Dir::Right));
        assert_eq!(room.player(), 7);
    }
}
