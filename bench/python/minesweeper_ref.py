"""Python reference MineSweeper for speed comparison, following the reference
rules (envs.md section 3; written for this benchmark): numpy boards, a seeded
mine draw excluding the first click, flood reveal, the reward precedence."""

import numpy as np


class MineSweeper:
    def __init__(self, size=6, mines=3):
        self.n, self.m = size, mines

    def reset(self, seed):
        rng = np.random.RandomState(seed % 2**32)
        n = self.n
        for _ in range(1000):
            x, y = rng.randint(n), rng.randint(n)
            values = rng.rand(n, n)
            threshold = np.sort(values.ravel())[self.m - 1]
            mine = values <= threshold
            if mine[x, y]:
                threshold = np.sort(values.ravel())[self.m]
                mine = values <= threshold
                mine[x, y] = False
            self.mine = mine
            counts = np.zeros((n, n), dtype=int)
            for i in range(n):
                for j in range(n):
                    counts[i, j] = mine[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].sum()
            self.count = counts
            self.shown = np.full((n, n), "?", dtype="<U1")
            self.flood(x, y)
            if not self.won():
                break
        return self.render()

    def flood(self, x, y):
        stack = [(x, y)]
        while stack:
            i, j = stack.pop()
            if not (0 <= i < self.n and 0 <= j < self.n) or self.shown[i, j] != "?":
                continue
            c = self.count[i, j]
            self.shown[i, j] = "." if c == 0 else str(c)
            if c == 0:
                stack.extend((i + di, j + dj) for di in (-1, 0, 1) for dj in (-1, 0, 1))

    def won(self):
        return bool(np.all((self.shown != "?")[~self.mine]))

    def render(self):
        return "\n".join(f"Row {i + 1}: " + " ".join(row) for i, row in enumerate(self.shown))

    def step(self, r, c):
        x, y = r - 1, c - 1
        before = self.shown.copy()
        if 0 <= x < self.n and 0 <= y < self.n and self.shown[x, y] == "?":
            if self.mine[x, y]:
                self.shown[x, y] = "*"
                return self.render(), -0.1, True
            self.flood(x, y)
        changed = int((self.shown != before).sum())
        if changed == 0:
            return self.render(), -1.0, False
        if self.won():
            return self.render(), 10.0, True
        return self.render(), 0.5 if changed == 1 else 2.0, False
