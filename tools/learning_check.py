"""Does CLIPMat learn? Train the tiny config from random weights on the sample pool, score it.

Sections: data -> train -> score -> table.
1. Data: the demo's pool (ingest + annotate), composed into a larger train split
   (--per-group) and the held-out test split (entities never seen in training; 3 of
   its 6 categories are not in the train split at all), at --long-side px.
2. Train: `clipmat train` (tiny, keyword setting, Adam) for --steps steps on this CPU: CLIPMat,
   the refiner (half of its coarse inputs from that CLIPMat's predictions, --coarse-from) and
   CLIPSeg (random weights, CLIP trained too: frozen random encoders could not read the text),
   each from scratch.
3. Score, keyword setting, at the composites' resolution, on (a) the held-out test split
   and (b) the training entities composed anew on the test backgrounds: the model, and
   two baselines in the same run: the union of all entities of the image, and an empty
   matte. Referring accuracy: share of entities whose prediction overlaps their own
   matte (soft IoU) more than any other entity's. Re-running with the same --out and
   --steps reuses the trained model (training resumes and finds nothing left to do).

Usage: python tools/learning_check.py [--out out/learning-check] [--steps 3000] [--per-group 20]
       [--augment stored|rssn] [--models clipmat,refiner,clipseg]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from refmatte.cli import app as refmatte_app


def build_data(out: Path, per_group: int, long_side: int, workers: int) -> Path:
    from typer.testing import CliRunner

    from refmatte.compose import ComposeOptions, compose

    manifests = out / "manifests"
    if not (manifests / "entities.parquet").exists():
        r = CliRunner().invoke(refmatte_app, ["demo", str(out), "--workers", str(workers)])
        assert r.exit_code == 0, r.output
    for split, n in (("train", per_group), ("test", 2)):
        s = compose(manifests, ComposeOptions(split=split, per_group=n, min_category_size=1, long_side=long_side),
                    workers)
        print(f"compose {split}: {len(s.plan.images)} images")
    return manifests


def build_seen_val(manifests: Path, out: Path, long_side: int, workers: int) -> Path:
    """Training entities composed anew on the test split's backgrounds (which training never saw)."""
    import shutil

    import pandas as pd

    from refmatte.compose import ComposeOptions, compose

    val = out / "seen-val"
    if not (val / "test.parquet").exists():
        shutil.copytree(manifests, val, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("images", "mattes", "train.parquet", "test.parquet", ".parts"))
        entities = pd.read_parquet(val / "entities.parquet")
        train_ids = set(pd.read_parquet(manifests / "train.parquet").entity_id)
        entities = entities[entities.entity_id.isin(train_ids)].copy()
        entities["source_split"] = "test"  # compose them as the test split: over the test backgrounds
        entities.to_parquet(val / "entities.parquet", index=False)
        s = compose(val, ComposeOptions(split="test", per_group=4, min_category_size=1, long_side=long_side, seed=7),
                    workers)
        print(f"compose seen-entity validation: {len(s.plan.images)} images")
    return val


def _table(title: str, scored: dict, rows, seen_words: set) -> None:
    results = {name: s.summary() for name, s in scored.items()}
    print(f"\n{title}: {results['empty matte']['entities']} entities")
    print("| method | SAD | MSE | MAD | referring accuracy |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['sad']:.2f} | {r['mse']:.4f} | {r['mad']:.4f} | {r['referring_accuracy']:.2f} |")
    seen = rows.keyword.isin(seen_words).to_numpy()
    for label, mask in (("keyword seen in training", seen), ("keyword never seen", ~seen)):
        if mask.any() and not mask.all():
            t = scored["CLIPMat tiny"].table[mask]
            print(f"| CLIPMat tiny, {label} ({mask.sum()}) | {t.sad.mean():.2f} | {t.mse.mean():.4f} | "
                  f"{t.mad.mean():.4f} | {t.referring_correct.mean():.2f} |")
    m = results["CLIPMat tiny"]
    for base in ("union of all entities", "empty matte"):
        b = results[base]
        print(f"| ratio vs {base} | {m['sad'] / b['sad']:.2f}x | {m['mse'] / b['mse']:.2f}x | "
              f"{m['mad'] / b['mad']:.2f}x | |")


MODELS = ("clipmat", "refiner", "clipseg")  # tiny configs trained from scratch; the refiner refines CLIPMat's mattes
TINY = {"clipmat": "tiny", "refiner": "refiner-tiny", "clipseg": "clipseg-tiny"}


def train_one(a, manifests: Path, family: str, coarse_from: Path | None = None) -> tuple[Path, float]:
    """Train the tiny ``family`` model at --image-size (or reuse the run); (final checkpoint, minutes)."""
    import dataclasses
    import json

    from clipmat import get_config
    from clipmat.train import TrainOptions, train

    base = get_config(TINY[family])
    config = dataclasses.replace(base, name=f"{base.name}-{a.image_size}", image_size=a.image_size)
    if family == "clipseg":  # from scratch: a frozen random CLIP could not learn to read the text
        config = dataclasses.replace(config, freeze_clip=False)
    config_file = a.out / f"{config.name}.json"
    config_file.write_text(json.dumps({"family": config.family, **config.to_dict()}))
    run = {"clipmat": "run", "refiner": "run-refiner", "clipseg": "run-clipseg"}[family]
    if a.augment != "stored":
        run += f"-{a.augment}"
    t0 = time.perf_counter()
    final = train(TrainOptions(manifest=str(manifests / "train.parquet"), out=str(a.out / run), model=str(config_file),
                               augment=a.augment, lr=a.lr, batch_size=a.batch_size, epochs=10**6, max_steps=a.steps,
                               workers=a.workers, checkpoint_every=500, seed=a.seed, resume=True,
                               coarse_from=str(coarse_from) if coarse_from else None),
                  progress=lambda step, r: print(f"{family} step {step}: loss {r['loss']:.4f}, {r['img_per_s']} img/s",
                                                 flush=True) if step % 250 == 0 else None)
    return final, (time.perf_counter() - t0) / 60


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("out/learning-check"))
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--per-group", type=int, default=20)
    ap.add_argument("--long-side", type=int, default=256)
    ap.add_argument("--image-size", type=int, default=128, help="model input size (the tiny architectures at this size)")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam lr; the paper's 1e-4 is for pretrained CLIP weights")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--augment", default="stored", help="stored or rssn (clipmat train --augment)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated: clipmat (always), refiner, clipseg")
    a = ap.parse_args()
    families = ["clipmat"] + [m for m in a.models.split(",") if m in MODELS and m != "clipmat"]

    # --- data
    manifests = build_data(a.out, a.per_group, a.long_side, a.workers)

    # --- train: CLIPMat, then the refiner on its predictions (half of the coarse inputs), CLIPSeg
    from clipmat import load_checkpoint
    from clipmat.data import read_manifest
    from clipmat.infer import empty_predictor, model_predictor, score, scoring_inputs, union_predictor

    finals, minutes = {}, {}
    for family in families:
        finals[family], minutes[family] = train_one(a, manifests, family,
                                                    finals["clipmat"] if family == "refiner" else None)
    models = {f: load_checkpoint(p) for f, p in finals.items()}

    # --- score: the held-out test split, and training entities on unseen backgrounds
    seen_words = set(read_manifest(manifests / "train.parquet", "keyword").keyword)
    took = ", ".join(f"{f} {m:.1f} min" if m > 0.1 else f"{f} earlier (reused)" for f, m in minutes.items())
    print(f"\ntrained {a.steps} steps each (batch {a.batch_size}, {a.image_size} px, lr {a.lr}, augment {a.augment}): "
          f"{took}; keyword setting; whole image at {a.long_side} px long side")
    val = build_seen_val(manifests, a.out, a.long_side, a.workers)
    clipmat = models["clipmat"]
    for title, manifest in (("held-out test split (entities and backgrounds never seen in training)",
                             manifests / "test.parquet"),
                            ("training entities in new images on the test backgrounds", val / "test.parquet")):
        rows, everyone, texts = scoring_inputs(manifest, "keyword", clipmat.config.pre_context)
        predictors = {"CLIPMat tiny": model_predictor(clipmat, "keyword")}
        if "refiner" in models:
            predictors["CLIPMat tiny + refiner"] = model_predictor(clipmat, "keyword", refiner=models["refiner"])
        if "clipseg" in models:
            predictors["CLIPSeg tiny"] = model_predictor(models["clipseg"], "keyword")
        predictors.update({"union of all entities": union_predictor(everyone), "empty matte": empty_predictor})
        scored = {name: score(rows, everyone, p, texts, ("sad", "mse", "mad")) for name, p in predictors.items()}
        _table(title, scored, rows, seen_words)


if __name__ == "__main__":
    main()
