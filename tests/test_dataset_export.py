"""refmatte export --format hf | webdataset | refcoco (issue 18, part 5)."""

from __future__ import annotations

import json
import math
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from refmatte.cli import app

pytest.importorskip("datasets")
pytest.importorskip("webdataset")
pytest.importorskip("pycocotools")
runner = CliRunner()


def _export(manifest, fmt, out, *extra):
    return runner.invoke(app, ["export", str(manifest), "--format", fmt, "--out", str(out), *map(str, extra)])


@pytest.fixture(scope="module")
def manifest(demo):
    return demo / "manifests/test.parquet"


def test_hf_dataset_round_trips_every_column_and_the_pixels(manifest, tmp_path):
    import datasets

    r = _export(manifest, "hf", tmp_path / "hf")
    assert r.exit_code == 0, r.output
    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    rows = pd.read_parquet(manifest).sort_values(["image_id", "slot"]).reset_index(drop=True)
    assert ds.num_rows == len(rows)
    assert set(rows.columns) - {"image_path", "matte_path"} <= set(ds.column_names) and {"image", "matte"} <= set(ds.column_names)
    assert isinstance(ds.features["image"], datasets.Image) and isinstance(ds.features["matte"], datasets.Image)
    for i in (0, len(rows) - 1):
        row, item = rows.iloc[i], ds[i]
        assert item["image_id"] == row.image_id and item["keyword"] == row.keyword
        assert item["expressions"] == list(row.expressions)
        stored = cv2.imread(str(manifest.parent / row.matte_path), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(np.asarray(item["matte"]), stored)
        image = cv2.cvtColor(cv2.imread(str(manifest.parent / row.image_path)), cv2.COLOR_BGR2RGB)
        assert np.array_equal(np.asarray(item["image"]), image)  # the JPEG's own bytes, decoded alike
    card = (tmp_path / "hf/README.md").read_text()
    assert all(f"`{c}`" in card for c in ("relations", "expressions", "keyword_valid", "image", "matte"))


def test_webdataset_shards_hold_one_sample_per_image(manifest, tmp_path):
    import webdataset as wds

    r = _export(manifest, "webdataset", tmp_path / "wds", "--shard-size", 4)
    assert r.exit_code == 0, r.output
    rows = pd.read_parquet(manifest)
    shards = sorted(str(p) for p in (tmp_path / "wds").glob("shard-*.tar"))
    assert len(shards) == math.ceil(rows.image_id.nunique() / 4)
    samples = list(wds.WebDataset(shards, shardshuffle=False))
    assert sorted(s["__key__"] for s in samples) == sorted(rows.image_id.unique())
    for s in samples:
        entities = json.loads(s["json"])
        assert {f"{e['slot']}.png" for e in entities} <= set(s) and "jpg" in s
        assert all(e["image_id"] == s["__key__"] for e in entities)


def test_refcoco_masks_decode_to_the_thresholded_mattes(manifest, tmp_path):
    from pycocotools import mask as rle

    r = _export(manifest, "refcoco", tmp_path / "ref")
    assert r.exit_code == 0, r.output
    coco = json.loads((tmp_path / "ref/instances.json").read_text())
    refs = json.loads((tmp_path / "ref/refs.json").read_text())
    rows = pd.read_parquet(manifest).sort_values(["image_id", "slot"]).reset_index(drop=True)
    assert len(coco["annotations"]) == len(refs) == len(rows)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    for ann, ref, (_, row) in zip(coco["annotations"], refs, rows.iterrows()):
        seg = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
        stored = cv2.imread(str(manifest.parent / row.matte_path), cv2.IMREAD_GRAYSCALE)
        assert np.array_equal(rle.decode(seg), (stored >= 128).astype(np.uint8))
        assert ref["ann_id"] == ann["id"] and names[ref["category_id"]] == row.category
        assert [s["sent"] for s in ref["sentences"]] == [row.keyword, *row.expressions]


def test_bad_paths_and_failed_runs_never_lose_the_last_export(manifest, tmp_path):
    out = tmp_path / "ref"
    assert _export(manifest, "refcoco", out).exit_code == 0
    before = (out / "refs.json").read_bytes()
    bad = tmp_path / "bad"
    shutil.copytree(manifest.parent, bad, ignore=shutil.ignore_patterns("cache"))
    rows = pd.read_parquet(bad / "test.parquet")
    rows.loc[0, "image_path"] = "../../outside.jpg"
    rows.to_parquet(bad / "test.parquet", index=False)
    r = _export(bad / "test.parquet", "refcoco", out)
    assert r.exit_code == 2 and "../../outside.jpg" in r.output and "leaves" in r.output
    assert (out / "refs.json").read_bytes() == before and not list(tmp_path.glob(".ref.*"))
    r = _export(manifest, "hf", manifest.parent)
    assert r.exit_code == 2 and "holds the manifest's folder" in r.output
    r = _export(manifest, "coco", tmp_path / "x")
    assert r.exit_code == 2 and "unknown --format" in r.output
