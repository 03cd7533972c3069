"""Python reference Sokoban for speed comparison: LaMer-style level generation
(reverse play + BFS acceptance, following envs.md section 2.4; written for this
benchmark) and gym-sokoban's step followed by a BFS solvability check in the
style of LaMer's (numpy grid states, a copy per child)."""

import random
from collections import deque

import numpy as np
from gym_sokoban.envs.sokoban_env import SokobanEnv as GymSokoban

MASKS = [
    [(0, -1), (0, 0), (0, 1)],
    [(-1, 0), (0, 0), (1, 0)],
    [(0, -1), (0, 0), (1, 0)],
    [(0, -1), (0, 0), (1, -1), (1, 0)],
    [(0, 0), (0, 1), (1, 0)],
]
HEADINGS = [(1, 0), (0, 1), (-1, 0), (0, -1)]
MOVES = [(-1, 0), (1, 0), (0, -1), (0, 1)]  # up, down, left, right


class GenerationFailed(Exception):
    pass


def topology(rows, cols, steps):
    level = np.zeros((rows, cols), dtype=int)
    heading = random.choice(HEADINGS)
    r, c = random.randint(1, rows - 1), random.randint(1, cols - 1)
    for _ in range(steps):
        if random.random() < 0.35:
            heading = random.choice(HEADINGS)
        r = max(min(r + heading[0], rows - 2), 1)
        c = max(min(c + heading[1], cols - 2), 1)
        for dr, dc in random.choice(MASKS):
            level[r + dr, c + dc] = 1
    level[0, :] = level[-1, :] = 0
    level[:, 0] = level[:, -1] = 0
    return level


def place(level, boxes):
    floor = list(zip(*np.where(level == 1)))
    if len(floor) <= boxes + 1:
        raise GenerationFailed("not enough floor")
    room = level.copy()
    player = floor[np.random.randint(len(floor))]
    room[player] = 5
    for _ in range(boxes):
        free = list(zip(*np.where(room == 1)))
        room[free[np.random.randint(len(free))]] = 2
    return room


class ReversePlay:
    def __init__(self, fixed, state, depth):
        self.fixed, self.depth = fixed, depth
        self.targets = [tuple(t) for t in np.argwhere(fixed == 2)]
        self.explored = set()
        self.best = (-1, None, None)

    def run(self, state):
        mapping = {t: t for t in self.targets}
        self.dfs(state, mapping, 0, None, self.depth)
        return self.best

    def dfs(self, state, mapping, swaps, last, ttl):
        ttl -= 1
        if ttl <= 0 or len(self.explored) >= 300000:
            return
        key = state.tobytes()
        if key in self.explored:
            return
        self.explored.add(key)
        disp = sum(abs(b[0] - t[0]) + abs(b[1] - t[1]) for t, b in mapping.items())
        score = swaps * disp if (state == 2).sum() == len(self.targets) else 0
        if score > self.best[0]:
            self.best = (score, state.copy(), dict(mapping))
        pr, pc = np.argwhere(state == 5)[0]
        for dr, dc in MOVES:
            nr, nc = pr + dr, pc + dc
            if state[nr, nc] not in (1, 2):
                continue
            nxt, nmap, nlast = state.copy(), dict(mapping), last
            nxt[pr, pc], nxt[nr, nc] = self.fixed[pr, pc], 5
            br, bc = pr - dr, pc - dc
            if nxt[br, bc] in (3, 4):
                nxt[pr, pc], nxt[br, bc] = 3, self.fixed[br, bc]
                for k, v in nmap.items():
                    if v == (br, bc):
                        nmap[k], nlast = (pr, pc), k
            self.dfs(nxt, nmap, swaps + (nlast != last), nlast, ttl)


def player_walk(state, fixed, probability):
    if random.random() > probability:
        return
    pos = tuple(np.argwhere(state == 5)[0])
    seen = [pos]
    for step in range(1, 4):
        options = [(pos[0] + dr, pos[1] + dc) for dr, dc in MOVES]
        options = [p for p in options if state[p] in (1, 2) and p not in seen]
        if not options:
            break
        nxt = random.choice(options)
        state[pos], state[nxt] = fixed[pos], 5
        pos = nxt
        seen.append(pos)
        if step >= 3 or random.random() > 0.5:
            break


def generate_room(rows, cols, boxes, depth):
    steps = int(1.7 * (rows + cols))
    for _ in range(4):
        room = place(topology(rows, cols, steps), boxes)
        fixed = room.copy()
        fixed[fixed == 5] = 1
        state = room.copy()
        state[state == 2] = 4
        score, best, mapping = ReversePlay(fixed, state, depth).run(state)
        if score > 0:
            break
    if score <= 0:
        raise GenerationFailed("zero score")
    best[best == 3] = 4
    disp = sum(abs(b[0] - t[0]) + abs(b[1] - t[1]) for t, b in mapping.items())
    player_walk(best, fixed, 0.8 if disp == 1 else 0.5)
    return fixed, best


def shortest_path(fixed, state, max_depth=100):
    """BFS over single moves, as LaMer's solver: grid states, a copy per child."""
    queue = deque([(state.copy(), 0)])
    seen = set()
    while queue:
        room, length = queue.popleft()
        if length > max_depth:
            return None
        key = room.tobytes()
        if key in seen:
            continue
        seen.add(key)
        player = tuple(np.argwhere(room == 5)[0])
        boxes = set(map(tuple, np.argwhere((room == 3) | (room == 4))))
        if not (room == 4).any():
            return length
        for dr, dc in MOVES:
            nxt = room.copy()
            np_ = (player[0] + dr, player[1] + dc)
            if fixed[np_] == 0:
                continue
            if np_ in boxes:
                nb = (np_[0] + dr, np_[1] + dc)
                if fixed[nb] == 0 or nb in boxes:
                    continue
                nxt[np_] = fixed[np_]
                nxt[nb] = 3 if fixed[nb] == 2 else 4
            nxt[player] = fixed[player]
            nxt[np_] = 5
            queue.append((nxt, length + 1))
    return None


def reset(seed, rows=6, cols=6, boxes=2, depth=100, lo=5, hi=21):
    """LaMer's reset: up to 10 levels, accept 5 <= shortest <= 21, else the
    last; on a generation failure retry with a derived seed."""
    for retry in range(64):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            for _ in range(10):
                fixed, state = generate_room(rows, cols, boxes, depth)
                n = shortest_path(fixed, state, depth)
                if n is not None and lo <= n <= hi:
                    break
            return fixed, state
        except GenerationFailed:
            seed = (seed * 6364136223846793005 + 1442695040888963407) % 2**64
    raise RuntimeError("no level")


class Env(GymSokoban):
    """gym-sokoban's step (push, reward, done) on a generated level, then the
    BFS solvability check after every move that does not end the episode."""

    def __init__(self):
        super().__init__(dim_room=(6, 6), max_steps=30, num_boxes=2, reset=False)

    def load(self, fixed, state):
        self.room_fixed, self.room_state = fixed.copy(), state.copy()
        self.player_position = np.argwhere(state == 5)[0]
        self.num_env_steps = self.reward_last = self.boxes_on_target = 0

    def render(self, mode="text"):
        """LaMer renders its text board where gym-sokoban renders images."""
        state = np.where((self.room_state == 5) & (self.room_fixed == 2), 6, self.room_state)
        glyphs = "#_O\u221aXPS"
        return "\n".join(f"{i}:" + "".join(" " + glyphs[v] for v in row) for i, row in enumerate(state))

    def play(self, action):
        _, reward, done, _ = GymSokoban.step(self, action, observation_mode="tiny_rgb_array")
        if not done:
            done = shortest_path(self.room_fixed, self.room_state, 100) is None
        return reward, done
