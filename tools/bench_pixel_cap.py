"""What the pixel cap saves on a decompression bomb, and what it costs on an ordinary image.

    python tools/bench_pixel_cap.py [--side 20000] [--repeat 50]

Part 1 ingests a folder holding one ordinary entity and one bomb (a valid grey PNG of
side x side pixels, about 400 KB on disk) twice, in child processes: with the default cap
(the bomb is refused from its header) and with the cap raised above it (the bomb is
decoded, as before the cap existed). Prints each run's peak memory and time, and the ratio.
Part 2 times reading an ordinary 1024 x 1024 JPEG through ``read_cv2`` (header check, then
OpenCV) against bare ``cv2.imread`` in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refmatte.imaging import DEFAULT_MAX_PIXELS, read_cv2  # noqa: E402
from refmatte.testing.crafted import folder_source, png_bomb, soft_alpha  # noqa: E402

PROBE = ("import resource, subprocess, sys, time; t = time.perf_counter(); r = subprocess.run(sys.argv[1:], "
         "capture_output=True); print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def ingest_peak(src: Path, out: Path, cap: int) -> tuple[float, float]:
    """(seconds, peak MB) of `refmatte --max-pixels CAP ingest folder SRC` in a fresh child process."""
    cmd = [sys.executable, "-m", "refmatte.cli", "--max-pixels", str(cap), "ingest", "folder", str(src), "--out", str(out),
           "--min-side", "16", "--no-face-filter"]
    r = subprocess.run([sys.executable, "-c", PROBE, *cmd], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds, kb = r.stdout.split()
    return float(seconds), int(kb) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=20000, help="Bomb side (px).")
    ap.add_argument("--repeat", type=int, default=50, help="Reads per timing in part 2.")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = folder_source(tmp / "src", names=("a",))
        png_bomb(src / "image/bomb.png", args.side)
        from PIL import Image

        Image.fromarray(soft_alpha(48, 64)).save(src / "alpha/bomb.png")
        size_kb = (src / "image/bomb.png").stat().st_size / 1024
        capped = ingest_peak(src, tmp / "capped", DEFAULT_MAX_PIXELS)
        raised = ingest_peak(src, tmp / "raised", args.side * args.side + 1)
        print(f"refmatte ingest of a {args.side}x{args.side} PNG bomb ({size_kb:.0f} KB on disk)")
        print("| cap | peak memory MB | seconds |\n| --- | ---: | ---: |")
        print(f"| default {DEFAULT_MAX_PIXELS:,} px (bomb refused) | {capped[1]:.0f} | {capped[0]:.1f} |")
        print(f"| raised above the bomb (decoded) | {raised[1]:.0f} | {raised[0]:.1f} |")
        print(f"memory ratio raised / capped: {raised[1] / capped[1]:.1f}x\n")

        photo = tmp / "photo.jpg"
        cv2.imwrite(str(photo), (np.random.default_rng(0).random((1024, 1024, 3)) * 255).astype(np.uint8))
        timings = {}
        for name, read in (("cv2.imread", lambda: cv2.imread(str(photo), cv2.IMREAD_COLOR)),
                           ("read_cv2 (header check + imread)", lambda: read_cv2(photo))):
            read()
            t = time.perf_counter()
            for _ in range(args.repeat):
                read()
            timings[name] = (time.perf_counter() - t) / args.repeat * 1000
        print("reading a 1024x1024 JPEG")
        print("| reader | ms per image |\n| --- | ---: |")
        for name, ms in timings.items():
            print(f"| {name} | {ms:.2f} |")
        base, capped_ms = timings.values()
        print(f"ratio read_cv2 / cv2.imread: {capped_ms / base:.3f}x")


if __name__ == "__main__":
    main()
