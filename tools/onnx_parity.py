"""ONNX export of CLIPMat: parity with PyTorch per output and size, export cost, and latency against PyTorch.

Exports --checkpoint (or --model with random weights, seeded) like `clipmat export --format onnx`,
then prints a table: max |onnxruntime - PyTorch| of alpha, trimap logits and details at each
--sizes (two phrases each), the share of alpha pixels strictly between 0 and 1 (how much of
the alpha comparison is on soft values), the graph's size, the export's wall time and peak
memory, and one-image latency on the CPU of onnxruntime against PyTorch (same inputs, same run).

Usage: python tools/onnx_parity.py [--model ViT-B-16 | --checkpoint CKPT] [--sizes 64x96,128x160,512x512,384x640]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ViT-B-16")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--sizes", default="64x96,128x160,512x512,384x640", help="HxW,...")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    import torch

    from clipmat import build_model, load_checkpoint
    from clipmat.export import OUTPUTS, OnnxMatte, export_onnx, parity
    from clipmat.model import tokenize

    torch.manual_seed(0)
    model = load_checkpoint(a.checkpoint, "cpu") if a.checkpoint else build_model(a.model)
    name = a.checkpoint or f"{a.model} (random weights, seed 0)"
    sizes = [tuple(int(v) for v in s.split("x")) for s in a.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="onnx-parity-") as tmp:
        path = Path(tmp) / "model.onnx"
        t0 = time.perf_counter()
        export_onnx(model, path)
        seconds = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GB (Linux: KB)
        megabytes = path.stat().st_size / 2**20
        checked = parity(model, path, sizes=sizes)
        g = torch.Generator().manual_seed(1)
        soft = {}
        for h, w in sizes:
            with torch.no_grad():
                alpha = model.eval()(torch.rand(2, 3, h, w, generator=g), tokenize(["cat", "the dog"],
                                                                                  model.config.keyword_length))["alpha"]
            soft[(h, w)] = float(((alpha > 0) & (alpha < 1)).float().mean())
        onnx_model = OnnxMatte(path)
        size = model.config.image_size
        image, tokens = torch.rand(1, 3, size, size, generator=g), tokenize(["the dog"], model.config.keyword_length)
        timings = {}
        for label, run in (("PyTorch", lambda: model(image, tokens)),
                           ("onnxruntime", lambda: onnx_model(image.numpy(), tokens.numpy()))):
            with torch.no_grad():
                run()  # warm-up
                t0 = time.perf_counter()
                for _ in range(a.repeat):
                    run()
            timings[label] = (time.perf_counter() - t0) / a.repeat
    print(f"\n{name}: {megabytes:.0f} MB graph, exported in {seconds:.0f} s, peak memory {peak:.1f} GB "
          f"(torch.onnx dynamo exporter, opset 18), CPU, torch threads: {torch.get_num_threads()}")
    print("| size (HxW) | " + " | ".join(f"max abs diff {k}" for k in OUTPUTS) + " | alpha pixels in (0, 1) |")
    print("|---|" + "---:|" * (len(OUTPUTS) + 1))
    for (h, w), diffs in checked.items():
        print(f"| {h}x{w} | " + " | ".join(f"{diffs[k]:.1e}" for k in OUTPUTS) + f" | {soft[(h, w)]:.1%} |")
    print(f"\none {size}x{size} image, one phrase, mean of {a.repeat}:")
    print("| runtime | seconds | ratio to PyTorch |")
    print("|---|---:|---:|")
    for label, t in timings.items():
        print(f"| {label} | {t:.3f} | {t / timings['PyTorch']:.2f} |")


if __name__ == "__main__":
    main()
