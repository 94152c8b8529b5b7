"""RefMatte at the paper's scale: annotation and composition costs on realistic entities.

    python tools/bench_scale.py [--entities 1000] [--distinct 48] [--sample 24] [--device cpu]

Entities are photographs (scikit-image textures, the astronaut's face among them) with soft
elliptical mattes, of sizes drawn uniformly from 1 to 6 MP like the real sources (AM-2k,
P3M-10k, AIM-500 and SIM hold many of 2-6 MP), cached as RGBA PNGs as ingest writes them.

1. Annotation, on ``--sample`` entities (10:2:2 human:animal:object; the detector and CLIP
   on the first ``--model-sample``, humans): seconds per entity of every annotator. colour, traits and people run as `refmatte annotate --workers 1` and
   ``--workers 2`` would (same code), Mask R-CNN R50-FPN and CLIP ViT-B/16 on ``--device``
   with random weights saved to files (the cost does not depend on the weights; the
   detector's score threshold is 0, so it keeps its 20 detections, the worst case).
   Peak resident memory of the main process of each stage and of a worker process.
2. Composition, from a pool of ``--entities`` entities (their RGBA caches share ``--distinct``
   files, so building the pool takes a minute, not an hour; every entity still gets its own
   size cache): the plan's images at 1 and 2 workers after a first, unmeasured run that
   makes the size caches; images/s against the codec floor of the same images (decode what
   compose reads, encode what it writes), the speed-up of 2 workers, peak memory of the main
   process and of a worker.

Extrapolations (printed with their formulas):
- 47,500 images on 16 cores = 47,500 / (rate on 1 worker x 16 x efficiency), efficiency =
  speed-up of 2 workers / 2;
- 13,187 entities = 13,187 x (sum of the CPU annotators' seconds per entity) / 16 cores,
  plus 13,187 x (detector + CLIP seconds per entity on ``--device``), the models on one
  device while the CPU annotators run on the cores (the two parts overlap in practice;
  the sum is an upper bound).

Every stage runs in a fresh spawned process, so one stage's memory never counts for another.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_compose import _textures, floor_rate  # noqa: E402  (tools/ is not a package)

from refmatte.imaging import encode_rgba_png  # noqa: E402
from refmatte.schema import BACKGROUND_SCHEMA, ENTITY_SCHEMA  # noqa: E402

SUPERS = ("human",) * 10 + ("animal",) * 2 + ("object",) * 2
CATEGORY = {"human": ("woman", "man"), "animal": ("cat", "dog"), "object": ("bottle", "chair")}
PAPER_IMAGES, PAPER_ENTITIES, CORES = 47_500, 13_187, 16


def make_pool(folder: Path, entities: int, distinct: int, seed: int = 0) -> None:
    """``entities`` rows over ``distinct`` RGBA caches of 1-6 MP, and 6 backgrounds of 1600 px."""
    rng = np.random.default_rng(seed)
    (folder / "cache/rgba").mkdir(parents=True)
    (folder / "bg").mkdir()
    base = _textures(1024)
    files = []
    for i in range(distinct):
        mp_ = rng.uniform(1.0, 6.0)
        aspect = rng.choice([2 / 3, 3 / 4, 1.0, 4 / 3])
        h = int(round((mp_ * 1e6 / aspect) ** 0.5))
        w = int(round(h * aspect))
        rgb = cv2.resize(base[i % len(base)], (w, h), interpolation=cv2.INTER_CUBIC)
        alpha = np.zeros((h, w), np.uint8)
        cv2.ellipse(alpha, (w // 2, h // 2), (int(w * rng.uniform(0.3, 0.48)), int(h * rng.uniform(0.3, 0.48))), 0, 0, 360, 255, -1)
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(2.0, 0.004 * max(h, w)))
        rel = f"cache/rgba/d{i:03d}.png"
        (folder / rel).write_bytes(encode_rgba_png(rgb, alpha))
        files.append((rel, h, w, float(((alpha > 0) & (alpha < 255)).mean())))
    rows = []
    for i in range(entities):
        sup = SUPERS[i % len(SUPERS)]
        rel, h, w, semi = files[i % distinct]
        row = {f.name: None for f in ENTITY_SCHEMA}
        row.update(entity_id=f"scale-{i:05d}", source="bench", source_key=f"e{i}", source_split="train", image_path=rel,
                   image_is_foreground=True, source_fingerprint=f"f{i}", config_hash="x", input_fixes=[], rgba_path=rel,
                   category=CATEGORY[sup][i % 2], supercategory=sup, width=w, height=h, alpha_semi_fraction=semi)
        rows.append(row)
    bgs = []
    bg_tex = _textures(1600)
    for i in range(6):
        rel = f"bg/b{i}.jpg"
        cv2.imwrite(str(folder / rel), bg_tex[(i + 2) % len(bg_tex)][..., ::-1])
        row = {f.name: None for f in BACKGROUND_SCHEMA}
        row.update(background_id=f"bg-{i}", source="bench", source_key=rel, source_split="train", image_path=rel,
                   width=1600, height=1600, source_fingerprint="x", config_hash="x", input_fixes=[])
        bgs.append(row)
    pq.write_table(pa.Table.from_pylist(rows, schema=ENTITY_SCHEMA), folder / "entities.parquet")
    pq.write_table(pa.Table.from_pylist(bgs, schema=BACKGROUND_SCHEMA), folder / "backgrounds.parquet")


# --- stages: each runs in its own spawned process and returns (result, own peak MiB, workers' peak MiB)

def _annotators(folder: Path, names: list[str], device: str, weights: dict[str, str]):
    from refmatte.annotate.category import CategoryAnnotator
    from refmatte.annotate.clothes import ClothesAnnotator
    from refmatte.annotate.color import ColorAnnotator
    from refmatte.annotate.people import PeopleAnnotator
    from refmatte.annotate.traits import TraitsAnnotator

    make = {"color": ColorAnnotator, "traits": TraitsAnnotator, "people": lambda: PeopleAnnotator(folder),
            "category": lambda: CategoryAnnotator(folder, weights.get("category"), "r50-fpn", 0.0, 800, device),
            "clothes": lambda: ClothesAnnotator(folder, "ViT-B-16", weights.get("clothes"), device)}
    return [make[n]() for n in names]


def stage_annotate(folder: str, names: list[str], workers: int, device: str, weights: dict[str, str]) -> dict[str, float]:
    """Seconds per annotated entity of each annotator in ``names``; with workers > 1 one figure: the
    wall time of all of them together per entity (starting the worker processes included)."""
    from refmatte.annotate import annotate

    if device == "cpu" and {"category", "clothes"} & set(names):
        import torch

        torch.set_num_threads(1)  # one core: per-core figures
    folder = Path(folder)
    anns = _annotators(folder, names, device, weights)
    if workers > 1:
        t = time.perf_counter()
        s = annotate(folder, anns, workers=workers)
        return {"+".join(names): (time.perf_counter() - t) / max(1, s.entities)}
    out = {}
    for ann in anns:
        ann.prepare()  # loading the model is not a per-entity cost
        ann.prepare = lambda: None
        t = time.perf_counter()
        s = annotate(folder, [ann])
        out[ann.name] = (time.perf_counter() - t) / max(1, s.done[ann.name])
    return out


def stage_compose(folder: str, workers: int, per_group: int) -> tuple[float, int]:
    from refmatte.compose import ComposeOptions, compose

    folder = Path(folder)
    for sub in ("images", "mattes"):
        shutil.rmtree(folder / sub, ignore_errors=True)
    (folder / "train.parquet").unlink(missing_ok=True)
    opts = ComposeOptions(split="train", per_group=per_group, min_category_size=1, long_side=1024)
    t = time.perf_counter()
    s = compose(folder, opts, workers=workers)
    return time.perf_counter() - t, s.rendered


def _hwm(pid: int | str) -> float:
    """Peak resident memory (VmHWM, MiB) of a live process; 0 when it is gone. Unlike ru_maxrss it
    starts again at exec, so a spawned process does not inherit its parent's peak."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children_of(pid: int) -> list[str]:
    kids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if f"\nPPid:\t{pid}\n" in status.read_text():
                kids.append(status.parent.name)
        except OSError:
            continue
    return kids


def _child(queue, fn, args) -> None:
    import os
    import threading

    peak = {"workers": 0.0}
    done = threading.Event()

    def watch() -> None:  # worker processes: their VmHWM just before they exit is their peak
        while not done.is_set():
            for kid in _children_of(os.getpid()):
                peak["workers"] = max(peak["workers"], _hwm(kid))
            done.wait(0.05)

    threading.Thread(target=watch, daemon=True).start()
    result = fn(*args)
    done.set()
    queue.put((result, _hwm("self"), peak["workers"]))


def measured(fn, *args):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=_child, args=(queue, fn, args))
    p.start()
    result = queue.get()
    p.join()
    if p.exitcode:
        raise SystemExit(f"stage {fn.__name__} failed (exit {p.exitcode})")
    return result


def fresh_manifest(folder: Path, pristine: Path) -> None:
    shutil.copy(pristine, folder / "entities.parquet")
    shutil.rmtree(folder / ".parts", ignore_errors=True)


def annotation_table(folder: Path, device: str, model_sample: int) -> None:
    import open_clip
    import torch

    from refmatte.annotate.detector import build_model

    weights = {"category": str(folder / "r50-random.pth"), "clothes": str(folder / "vitb16-random.pt")}
    torch.manual_seed(0)
    torch.save(build_model("r50-fpn").state_dict(), weights["category"])
    torch.save(open_clip.create_model("ViT-B-16").state_dict(), weights["clothes"])
    pristine = folder / "entities.pristine.parquet"
    shutil.copy(folder / "entities.parquet", pristine)
    n = pq.read_metadata(pristine).num_rows
    humans = sum(1 for s in pq.read_table(pristine, columns=["supercategory"])["supercategory"].to_pylist() if s == "human")
    mpx = pq.read_table(pristine, columns=["width", "height"]).to_pandas()
    print(f"\n## Annotation: {n} entities ({humans} human), {mpx.width.mul(mpx.height).mean() / 1e6:.1f} MP on average "
          f"({mpx.width.mul(mpx.height).min() / 1e6:.1f}-{mpx.width.mul(mpx.height).max() / 1e6:.1f})")
    rows = []
    fresh_manifest(folder, pristine)
    cpu, main_mb, _ = measured(stage_annotate, str(folder), ["color", "traits", "people"], 1, "cpu", weights)
    for name, sec in cpu.items():
        rows.append((name, "cpu, 1 process", sec, main_mb, "-"))
    fresh_manifest(folder, pristine)
    both, main2, worker_mb = measured(stage_annotate, str(folder), ["color", "traits", "people"], 2, "cpu", weights)
    rows.append(("color+traits+people", "cpu, 2 workers (wall / entity)", next(iter(both.values())), main2, f"{worker_mb:.0f}"))
    few = folder / "entities.few.parquet"  # the models are slow on a CPU: the first entities (humans) only
    pq.write_table(pq.read_table(pristine).slice(0, model_sample), few)
    for name in ("category", "clothes"):
        fresh_manifest(folder, few)
        r, mb, _ = measured(stage_annotate, str(folder), [name], 1, device, weights)
        rows.append((name, f"{device}, 1 thread" if device == "cpu" else device, r[name], mb, "-"))
    print("| annotator | where | s / entity it applies to | main peak MiB | worker peak MiB |")
    print("| --- | --- | ---: | ---: | ---: |")
    for name, where, sec, mb, wmb in rows:
        print(f"| {name} | {where} | {sec:.3f} | {mb:.0f} | {wmb} |")
    share = humans / n  # people and clothes apply to humans only
    cpu_s = cpu["color"] + cpu["traits"] + share * cpu["people"]
    model_s = next(s for nm, _, s, _, _ in rows if nm == "category") + share * next(s for nm, _, s, _, _ in rows if nm == "clothes")
    speedup = (cpu_s / next(iter(both.values())))
    print(f"\n2 workers vs 1 on the CPU annotators: {speedup:.2f}x "
          f"(per entity {cpu_s:.3f} s on one process, all entities; people on {share:.0%} of them)")
    cpu_min = PAPER_ENTITIES * cpu_s / CORES / 60
    model_min = PAPER_ENTITIES * model_s / 60
    print(f"13,187 entities: CPU annotators {PAPER_ENTITIES} x {cpu_s:.3f} s / {CORES} cores = {cpu_min:.1f} min; "
          f"detector + CLIP on {device}: {PAPER_ENTITIES} x {model_s:.3f} s = {model_min:.1f} min; "
          f"upper bound {cpu_min + model_min:.1f} min")


def compose_table(folder: Path, per_group: int) -> None:
    from refmatte.compose import ComposeOptions
    from refmatte.compose.run import plan_from

    plan = plan_from(folder, ComposeOptions(split="train", per_group=per_group, min_category_size=1, long_side=1024))[0]
    entities = pq.read_metadata(folder / "entities.parquet").num_rows
    used = len({e for p in plan.images for e in p.entity_ids})
    print(f"\n## Composition: a pool of {entities} entities (1-6 MP), {len(plan.images)} images of 1024 px using {used} of them")
    warm, _, _ = measured(stage_compose, str(folder), 2, per_group)  # makes the size caches, as a first run would
    print(f"first run (makes every used entity's size cache, 2 workers): {warm[0]:.0f} s")
    results = {}
    for workers in (1, 2):
        (sec, rendered), main_mb, worker_mb = measured(stage_compose, str(folder), workers, per_group)
        results[workers] = (rendered / sec, main_mb, worker_mb)
    floor_images_per_s = floor_rate(folder)
    print("| workers | images/s | floor images/s | vs floor | speed-up | main peak MiB | worker peak MiB |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for workers, (rate, main_mb, worker_mb) in results.items():
        f = floor_images_per_s * workers
        print(f"| {workers} | {rate:.2f} | {f:.2f} | {f / rate:.2f}x | {rate / results[1][0]:.2f}x | {main_mb:.0f} | "
              f"{worker_mb:.0f} |" if workers > 1 else f"| 1 | {rate:.2f} | {f:.2f} | {f / rate:.2f}x | 1.00x | {main_mb:.0f} | - |")
    eff = results[2][0] / results[1][0] / 2
    minutes = PAPER_IMAGES / (results[1][0] * CORES * eff) / 60
    print(f"\n47,500 images on {CORES} cores = 47,500 / ({results[1][0]:.2f} images/s x {CORES} x {eff:.2f}) = {minutes:.1f} min")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entities", type=int, default=1000, help="pool size for composition")
    ap.add_argument("--distinct", type=int, default=48, help="distinct RGBA cache files the pool's entities share")
    ap.add_argument("--sample", type=int, default=24, help="entities to annotate (each its own file)")
    ap.add_argument("--per-group", type=int, default=1, help="compose --per-group (images = groups x per-group)")
    ap.add_argument("--model-sample", type=int, default=6, help="of those, entities for the detector and CLIP")
    ap.add_argument("--device", default="cpu", help="where the detector and CLIP run (cpu, cuda)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: annotate, compose")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory() as tmp:
        if "annotate" not in skip:
            folder = Path(tmp) / "annotate"
            t = time.perf_counter()
            make_pool(folder, args.sample, args.sample, seed=1)
            print(f"(built {args.sample} entities in {time.perf_counter() - t:.0f} s)")
            annotation_table(folder, args.device, args.model_sample)
        if "compose" not in skip:
            folder = Path(tmp) / "compose"
            t = time.perf_counter()
            make_pool(folder, args.entities, args.distinct)
            print(f"(built a pool of {args.entities} entities over {args.distinct} files in {time.perf_counter() - t:.0f} s)")
            compose_table(folder, args.per_group)


if __name__ == "__main__":
    main()
