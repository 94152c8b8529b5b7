"""CLIPMat cost next to the bare open_clip image tower it is built on, measured in one run.

For each row a fresh process builds the network (random weights: same cost as real ones),
then times forward passes at the config's size (512 px) (batch 1, inference mode; median of --repeats after
one warm-up) and, with --train (the default on a GPU), training steps: Adam, bf16
autocast on CUDA, batch --train-batch, images per second. The baseline row is the CLIP
image tower alone (``open_clip ... .visual``, at the same size, with its projection);
the ratio column divides CLIPMat's figure by it. Peak memory is the process's peak RSS
on CPU, ``torch.cuda.max_memory_allocated`` on a GPU.

Usage: python tools/bench_model.py [--model ViT-B-16] [--device cpu|cuda] [--repeats 5]
                                   [--train] [--train-batch 12] [--train-steps 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(kind: str, model_name: str, device_name: str, repeats: int, train: bool, batch: int, steps: int) -> dict:
    from clipmat import ClipMatLoss, build_model, create_clip, get_config, tokenize

    device = torch.device(device_name)
    config = get_config(model_name)
    torch.manual_seed(0)
    if kind == "clipmat":
        net = build_model(config).to(device)
        tokens = tokenize(["the foreground of cat"], config.keyword_length).to(device)
        run = lambda x: net(x, tokens.expand(x.shape[0], -1))  # noqa: E731
    else:
        net = create_clip(config).visual.to(device)
        run = net
    size = config.image_size
    result = {"params": sum(p.numel() for p in net.parameters()), "size": size}
    net.eval()
    x = torch.rand(1, 3, size, size, device=device)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):
            _sync(device)
            t = time.perf_counter()
            run(x)
            _sync(device)
            if i:
                times.append(time.perf_counter() - t)
    result["forward_s"] = statistics.median(times)
    if train:
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=1e-4)
        xb = torch.rand(batch, 3, size, size, device=device)
        alpha = (torch.rand(batch, 1, size, size, device=device) > 0.5).float()
        trimap = torch.randint(0, 3, (batch, size, size), device=device)
        criterion = ClipMatLoss()
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
        for i in range(steps + 2):
            if i == 2:  # two warm-up steps (allocator, cuDNN autotuning)
                _sync(device)
                t = time.perf_counter()
            with autocast:
                out = run(xb)
                if kind == "clipmat":
                    loss = criterion(**out, target_alpha=alpha, target_trimap=trimap)["loss"]
                else:
                    loss = out.float().pow(2).mean()  # the tower's own backward, as a floor
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _sync(device)
        result["train_img_s"] = steps * batch / (time.perf_counter() - t)
    result["peak_mib"] = _peak_mib(device)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ViT-B-16")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--train", action=argparse.BooleanOptionalAction, default=None,
                    help="time training steps too (default: on a GPU only)")
    ap.add_argument("--train-batch", type=int, default=12)
    ap.add_argument("--train-steps", type=int, default=10)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    train = a.device.startswith("cuda") if a.train is None else a.train
    if a.child:
        print(json.dumps(child(a.child, a.model, a.device, a.repeats, train, a.train_batch, a.train_steps)))
        return
    rows = {}
    for kind in ("tower", "clipmat"):
        cmd = [sys.executable, __file__, "--child", kind, "--model", a.model, "--device", a.device,
               "--repeats", str(a.repeats), "--train-batch", str(a.train_batch), "--train-steps", str(a.train_steps),
               "--train" if train else "--no-train"]
        rows[kind] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    base = rows["tower"]
    name = {"tower": f"open_clip {a.model} image tower", "clipmat": f"CLIPMat {a.model}"}
    cols = [("params", "parameters (M)", 1e-6, "{:.1f}"), ("peak_mib", "peak memory (MiB)", 1, "{:.0f}"),
            ("forward_s", f"forward {base['size']} px (ms)", 1e3, "{:.0f}")]
    if train:
        cols.append(("train_img_s", f"train img/s (batch {a.train_batch})", 1, "{:.1f}"))
    print(f"device: {a.device} ({torch.cuda.get_device_name(0) if a.device.startswith('cuda') else f'{torch.get_num_threads()} threads'})")
    print("| row | " + " | ".join(c[1] for c in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for kind in ("tower", "clipmat"):
        print(f"| {name[kind]} | " + " | ".join(c[3].format(rows[kind][c[0]] * c[2]) for c in cols) + " |")
    print("| ratio CLIPMat / tower | " + " | ".join(f"{rows['clipmat'][c[0]] / base[c[0]]:.2f}x" for c in cols) + " |")
    ratio = rows["clipmat"]["forward_s"] / base["forward_s"]
    print(f"aim: forward under 1.5x the bare tower: {'met' if ratio < 1.5 else 'NOT met'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
