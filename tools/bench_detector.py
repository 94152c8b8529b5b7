"""Peak memory and time of the category detector on one 6 MP entity: sized copy vs original.

    python tools/bench_detector.py [--side 3000x2000]

Mask R-CNN (R50-FPN, random weights: the memory does not depend on them; score threshold 0,
so it returns as many detections as it keeps) runs in a fresh process on one entity,
(a) as `refmatte annotate` now feeds it: brought to the model's input size first
(refmatte.annotate.detector.detect) and keeping DETECTIONS (20) detections; (b) the same
with torchvision's 100; (c) on the full-resolution original with 100, as at first:
torchvision then pastes every mask back at full size. Prints peak memory (the whole
process: Python, torch and the model included), seconds and ratios.
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
model = build_model("r50-fpn", min_score=0.0, detections=int(sys.argv[3])).eval()
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


def run(mode: str, side: str, detections: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", CHILD, mode, side, str(detections)], capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    return time.perf_counter() - t0, int(r.stdout.split()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", default="3000x2000", help="entity size HxW")
    a = ap.parse_args()
    from refmatte.annotate.detector import DETECTIONS

    now, hundred, original = run("sized", a.side, DETECTIONS), run("sized", a.side, 100), run("original", a.side, 100)
    print(f"Mask R-CNN R50-FPN on one {a.side} entity (seconds include starting Python and building the model)")
    print("| input | detections | seconds | peak MB |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| model's input size (now) | {DETECTIONS} | {now[0]:.1f} | {now[1]:.0f} |")
    print(f"| model's input size | 100 | {hundred[0]:.1f} | {hundred[1]:.0f} |")
    print(f"| full resolution (at first) | 100 | {original[0]:.1f} | {original[1]:.0f} |")
    print(f"memory ratio at first / now: {original[1] / now[1]:.1f}x; time ratio: {original[0] / now[0]:.2f}x")


if __name__ == "__main__":
    main()
