"""Table 2 of the paper on one test manifest: any checkpoints and cascades, one protocol, one table.

Each METHOD is a CLIPMat or CLIPSeg checkpoint, ``CKPT+REFINER`` (the refiner's checkpoint
refines CKPT's mattes), or a cascade by name or JSON config (``grounded-vitmatte``). Every
method is scored by clipmat's own scoring (clipmat.infer.score: whole image, at the
original resolution, SAD / MSE / MAD as the paper reports them) in each --setting, with
referring accuracy (share of entities whose prediction overlaps their own matte more than
any other entity's); the union-of-all-entities and empty-matte baselines are measured in
the same run. A cascade's phrase that matches nothing is scored as an empty matte and counted.

Usage: python tools/table2.py MANIFEST METHOD [METHOD ...] [--setting keyword,expression] [--long-side N]
       [--device cpu] [--csv results.csv]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def load(spec: str, device: str):
    """(model, refiner or None, method name, backbone) of a METHOD argument."""
    from clipmat import load_checkpoint
    from clipmat.cascade import Cascade
    from clipmat.config import get_config

    first, _, second = spec.partition("+")
    if Path(first).suffix in (".safetensors", ".pt", ".pth"):
        model = load_checkpoint(first, device)
    else:
        model = Cascade(get_config(first), device)
    refiner = load_checkpoint(second, device) if second else None
    if refiner is not None and refiner.config.family != "refiner":
        raise SystemExit(f"{second} is a {refiner.config.family} model, not a refiner")
    c = model.config
    name = {"clipmat": "CLIPMat", "clipseg": "CLIPSeg", "cascade": "Grounding DINO + SAM + ViTMatte"}.get(c.family)
    if name is None:
        raise SystemExit(f"{first} is a {c.family} model: give it after a CLIPMat or CLIPSeg checkpoint, as CKPT+{first}")
    backbone = {"clipmat": lambda: c.clip_model, "clipseg": lambda: "CLIP (CLIPSeg)", "cascade": lambda: "Swin-T / ViT"}[
        c.family]()
    return model, refiner, f"{name} ({Path(first).name})", backbone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest", type=Path)
    ap.add_argument("methods", nargs="+", help="CKPT, CKPT+REFINER, or a cascade name / JSON config")
    ap.add_argument("--setting", default="keyword,expression", help="comma-separated: keyword, expression")
    ap.add_argument("--long-side", type=int, default=None, help="inference long side (default: each model's input size)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--csv", type=Path, default=None, help="also write the table as CSV")
    a = ap.parse_args()

    import pandas as pd

    from clipmat.infer import empty_predictor, model_predictor, score, scoring_inputs, union_predictor

    settings = [s.strip() for s in a.setting.split(",") if s.strip()]
    metrics = ("sad", "mse", "mad")
    rows = []

    def add(method: str, backbone: str, refiner: str, results: dict, no_match: dict) -> None:
        row = {"method": method, "backbone": backbone, "refiner": refiner}
        for s, r in results.items():
            row.update({f"{s} {m.upper()}": r[m] for m in metrics})
            row[f"{s} referring accuracy"] = r["referring_accuracy"]
            row[f"{s} entities"] = r["entities"]
            if no_match.get(s):
                row[f"{s} matched nothing"] = no_match[s]
        rows.append(row)

    inputs = {}
    for s in settings:
        inputs[s] = scoring_inputs(a.manifest, s)
    for spec in a.methods:
        model, refiner, name, backbone = load(spec, a.device)
        results, no_match = {}, {}
        for s in settings:
            picked, everyone, texts = scoring_inputs(a.manifest, s, model.config.pre_context)
            missed: list[str] = []
            results[s] = score(picked, everyone, model_predictor(model, s, a.long_side, refiner, missed), texts,
                               metrics).summary()
            no_match[s] = len(missed)
        add(name, backbone, "yes" if refiner is not None else "no", results, no_match)
        print(f"scored {spec}", flush=True)
    for base in ("union of all entities", "empty matte"):
        results = {}
        for s in settings:
            picked, everyone, texts = inputs[s]
            predictor = union_predictor(everyone) if base.startswith("union") else empty_predictor
            results[s] = score(picked, everyone, predictor, texts, metrics).summary()
        add(base, "-", "-", results, {})

    table = pd.DataFrame(rows)
    print(f"\nTable 2 shape on {a.manifest}: whole image, original resolution, SAD / 1000 as the paper reports it")
    header = ["method", "backbone", "refiner"] + [f"{s} {m}" for s in settings for m in ("SAD", "MSE", "MAD")] + \
             [f"{s} referring accuracy" for s in settings]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for _, r in table.iterrows():
        cells = [str(r[h]) if h in ("method", "backbone", "refiner") else
                 f"{r[h]:.4f}" if ("MSE" in h or "MAD" in h) else f"{r[h]:.2f}" for h in header]
        print("| " + " | ".join(cells) + " |")
    for s in settings:
        col = f"{s} matched nothing"
        if col in table and table[col].fillna(0).any():
            for _, r in table[table[col].fillna(0) > 0].iterrows():
                print(f"{r['method']}, {s}: {int(r[col])} of {int(r[f'{s} entities'])} phrases matched nothing "
                      "(scored as empty mattes)")
    if a.csv:
        table.to_csv(a.csv, index=False)
        print(f"table: {a.csv}")


if __name__ == "__main__":
    main()
