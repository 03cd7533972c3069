"""Times the Python references: `python bench.py <what> <count>`; prints one
JSON line with ops/s. what: sokoban_reset | sokoban_step | mines_reset | mines_step."""

import json
import random
import sys
import time

import minesweeper_ref
import sokoban_ref


def timed(calls):
    total = 0.0
    for call in calls:
        t0 = time.perf_counter()
        call()
        total += time.perf_counter() - t0
    return total


def main():
    what, count = sys.argv[1], int(sys.argv[2])
    if what == "sokoban_reset":
        seconds = timed(lambda s=s: sokoban_ref.reset(2**16 + s) for s in range(count))
    elif what == "sokoban_step":
        env, rng, seed, seconds, done = sokoban_ref.Env(), random.Random(0), 2**16, 0.0, True
        levels = {}
        for _ in range(count):
            if done:  # untimed: episodes restart from a cached level
                seed = 2**16 + (seed + 1) % 50
                if seed not in levels:
                    levels[seed] = sokoban_ref.reset(seed)
                env.load(*levels[seed])
                done, moves = False, 0
            action = rng.randint(1, 4)
            t0 = time.perf_counter()
            _, done = env.play(action)
            seconds += time.perf_counter() - t0
            moves += 1
            done = done or moves >= 21
    elif what == "mines_reset":
        env = minesweeper_ref.MineSweeper()
        seconds = timed(lambda s=s: env.reset(2**16 + s) for s in range(count))
    elif what == "mines_step":
        env, rng, seconds, done, seed, turns = minesweeper_ref.MineSweeper(), random.Random(0), 0.0, True, 0, 0
        for _ in range(count):
            if done:
                env.reset(2**16 + seed)
                seed, done, turns = seed + 1, False, 0
            r, c = rng.randint(1, 6), rng.randint(1, 6)
            t0 = time.perf_counter()
            _, _, done = env.step(r, c)
            seconds += time.perf_counter() - t0
            turns += 1
            done = done or turns >= 7
    else:
        sys.exit(f"unknown benchmark {what}")
    print(json.dumps({"bench": what, "count": count, "ops_per_s": count / seconds}))


if __name__ == "__main__":
    main()
