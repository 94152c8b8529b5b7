"""Batch prediction throughput: one `clipmat predict` over a folder vs one process per image, same run.

Saves a checkpoint of each --model with random weights (the speed does not depend on the
values), writes --images test images of --size px into a temporary folder, and times
(a) `clipmat predict CKPT FOLDER --text ... --out-dir OUT` (one process, one model load) and
(b) `clipmat predict CKPT IMAGE PHRASE --out ...` once per image (a process each), both as
subprocesses on the CPU. Prints a table with images/s and the ratio.

Usage: python tools/bench_predict.py [--models tiny,ViT-B-16] [--images 8] [--size 640]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="tiny,ViT-B-16")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size", type=int, default=640, help="long side of the test images")
    a = ap.parse_args()

    import cv2
    import numpy as np

    from clipmat import build_model, save_checkpoint

    clipmat = [sys.executable, "-m", "clipmat.cli", "predict"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        tmp = Path(tmp)
        images = tmp / "images"
        images.mkdir()
        rng = np.random.default_rng(0)
        for i in range(a.images):
            h = a.size * 3 // 4 + 16 * (i % 3)
            cv2.imwrite(str(images / f"img{i:03d}.jpg"), (rng.random((h, a.size, 3)) * 255).astype(np.uint8))
        for name in a.models.split(","):
            ckpt = save_checkpoint(build_model(name), tmp / f"{name}.safetensors")
            t0 = time.perf_counter()
            subprocess.run([*clipmat, str(ckpt), str(images), "--text", "the dog", "--out-dir", str(tmp / f"out-{name}"),
                            "--device", "cpu"], check=True, capture_output=True)
            one = time.perf_counter() - t0
            t0 = time.perf_counter()
            for p in sorted(images.iterdir()):
                subprocess.run([*clipmat, str(ckpt), str(p), "the dog", "--out", str(tmp / f"{name}-{p.stem}.png"),
                                "--device", "cpu"], check=True, capture_output=True)
            each = time.perf_counter() - t0
            rows.append((name, a.images / one, a.images / each, each / one))
    print(f"\n{a.images} images of {a.size} px long side, one phrase each, CPU (torch threads: default)")
    print("| model | one process, one model load (images/s) | one process per image (images/s) | speed-up |")
    print("|---|---:|---:|---:|")
    for name, batch, single, ratio in rows:
        print(f"| {name} | {batch:.2f} | {single:.2f} | {ratio:.1f}x |")


if __name__ == "__main__":
    main()
