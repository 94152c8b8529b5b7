"""Time and peak memory of planning the paper's full split (`refmatte compose --dry-run`).

    python tools/bench_plan.py

Builds manifests of the paper's sizes (9,186 : 1,800 : 813 train and 977 : 200 : 211 test
entities, no pixels), then runs, each in a fresh process: reading the entity manifest
alone (the baseline) and the dry runs of `--split train --groups 2110 --per-group 20
--extra 2800` (45,000 images) and `--split test --groups 211 --per-group 10 --extra 390`
(2,500 images). Prints seconds and peak memory of each, and the ratio to the baseline.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refmatte.testing.crafted import paper_manifests  # noqa: E402

PROBE = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")


def run(argv: list[str]) -> tuple[float, float]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {r.stderr}")
    return time.perf_counter() - t0, int(r.stdout.split()[-1]) / 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = paper_manifests(Path(tmp) / "m")
        read = [sys.executable, "-c", "import sys; from refmatte.ingest import read_rows; from refmatte.schema import "
                "ENTITY_SCHEMA; print(len(read_rows(sys.argv[1], ENTITY_SCHEMA)))", str(out / "entities.parquet")]
        compose = [sys.executable, "-m", "refmatte.cli", "compose", "--dry-run", "--min-category-size", "1", "--out", str(out)]
        cases = [("read entities.parquet (baseline)", read),
                 ("dry run train: 45,000 images", [*compose, "--split", "train", "--groups", "2110", "--per-group", "20",
                                                   "--extra", "2800"]),
                 ("dry run test: 2,500 images", [*compose, "--split", "test", "--groups", "211", "--per-group", "10",
                                                 "--extra", "390"])]
        results = [(name, *run(argv)) for name, argv in cases]
    base = results[0][1]
    print("| run | seconds | peak MB | seconds / baseline |")
    print("| --- | ---: | ---: | ---: |")
    for name, seconds, mb in results:
        print(f"| {name} | {seconds:.2f} | {mb:.0f} | {seconds / base:.2f}x |")


if __name__ == "__main__":
    main()
