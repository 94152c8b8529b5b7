"""Peak memory and time of the category detector on one 6 MP entity: sized copy vs original.

    python tools/bench_detector.py [--side 3000x2000]

Mask R-CNN (R50-FPN, random weights: the memory does not depend on them; score threshold 0,
so it returns its 100 detections) runs in a fresh process on one entity, (a) as
`refmatte annotate` now feeds it, brought to the model's input size first
(refmatte.annotate.detector.detect), and (b) on the full-resolution original, as before:
torchvision then pastes every mask back at full size. Prints peak memory, seconds and ratios.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import resource, sys, numpy as np, torch
torch.manual_seed(0)
from refmatte.annotate.detector import build_model, detect
h, w = map(int, sys.argv[2].split("x"))
model = build_model("r50-fpn", min_score=0.0).eval()
rng = np.random.default_rng(0)
image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
alpha = np.zeros((h, w), np.uint8); alpha[h // 6: 5 * h // 6, w // 5: 4 * w // 5] = 255
if sys.argv[1] == "sized":
    detect(model, [image], [alpha])
else:
    with torch.inference_mode():
        out = model([torch.from_numpy(image).permute(2, 0, 1).float().div(255.0)])
    print(len(out[0]["masks"]), tuple(out[0]["masks"].shape), file=sys.stderr)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run(mode: str, side: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", CHILD, mode, side], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    return time.perf_counter() - t0, int(r.stdout.split()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", default="3000x2000", help="entity size HxW")
    a = ap.parse_args()
    sized, original = run("sized", a.side), run("original", a.side)
    print(f"Mask R-CNN R50-FPN on one {a.side} entity, 100 detections")
    print("| input | seconds | peak MB |")
    print("| --- | ---: | ---: |")
    print(f"| model's input size (now) | {sized[0]:.1f} | {sized[1]:.0f} |")
    print(f"| full resolution (before) | {original[0]:.1f} | {original[1]:.0f} |")
    print(f"memory ratio before / now: {original[1] / sized[1]:.1f}x; time ratio: {original[0] / sized[0]:.2f}x")


if __name__ == "__main__":
    main()
