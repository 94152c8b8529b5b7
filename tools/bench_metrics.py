"""Seconds per 2048x2048 pair for each matting metric, against one pass of |p - a| as the floor.

Usage: python tools/bench_metrics.py [--size 2048] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from clipmat import metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    target = (rng.random((a.size, a.size)) > 0.5).astype(np.float64)
    pred = np.clip(target + rng.normal(0, 0.1, target.shape), 0, 1)

    def timed(fn) -> float:
        runs = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            fn(pred, target)
            runs.append(time.perf_counter() - t)
        return statistics.median(runs)

    floor = timed(lambda p, t: np.abs(p - t).sum())
    print(f"{a.size}x{a.size} float64 pair, median of {a.repeats}")
    print("| metric | seconds | ratio to one |p - a| pass |")
    print("|---|---|---|")
    print(f"| floor: np.abs(p - a).sum() | {floor:.3f} | 1.0x |")
    total = 0.0
    for name in metrics.METRICS:
        s = timed(getattr(metrics, name))
        total += s
        print(f"| {name} | {s:.3f} | {s / floor:.1f}x |")
    print(f"| all five | {total:.3f} | {total / floor:.1f}x |")


if __name__ == "__main__":
    main()
