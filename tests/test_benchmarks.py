"""refmatte import-refmatte / import-rw100 on fixture trees laid out as the official releases."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from typer.testing import CliRunner

from clipmat.cli import app as clipmat_app
from clipmat.data import eval_text, read_manifest
from refmatte.cli import app

runner = CliRunner()


def _image(path: Path, w: int, h: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8))


def _matte(path: Path, w: int, h: int, x0: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    m = np.zeros((h, w), np.uint8)
    m[10:30, x0:x0 + 15] = 255
    cv2.imwrite(str(path), m)


def make_rw100(root: Path) -> None:
    labels, index = {}, {}
    for i in range(3):
        _image(root / "image" / f"rw_{i}.jpg", 64, 48, i)
        for k in range(2):
            _matte(root / "mask" / f"rw_{i}_{k}.png", 64, 48, 5 + 30 * k)
            labels[f"rw_{i}_{k}"] = {"image_name": f"rw_{i}.jpg", "expressions": [f"left thing {k}", f"thing {k}"]}
            index[f"rw_{i}_{k}"] = 1
    labels["rw_9_0"] = {"image_name": "rw_9.jpg", "expressions": ["ghost"]}  # no files
    _matte(root / "mask" / "rw_2_1.png", 32, 32, 0)  # wrong size: skipped
    (root / "refmatte_rw100_label.json").write_text(json.dumps(labels))
    (root / "eval_index_expression.json").write_text(json.dumps(index))


def make_refmatte(root: Path) -> None:
    for split in ("train", "test"):
        labels = {}
        for i in range(2):
            name = f"{split}_{i:05d}"
            _image(root / split / "img" / f"{name}.jpg", 64, 48, i)
            for k in range(2):
                _matte(root / split / "mask" / f"{name}_{k}.png", 64, 48, 5 + 30 * k)
                labels[f"{name}_{k}"] = {"image_name": name, "expressions": [f"the thing {k}"], "keyword": f"cat{k}"}
        (root / split / f"refmatte_{split}_label.json").write_text(json.dumps(labels))


def test_import_rw100_keeps_the_official_evaluation_expression(tmp_path):
    make_rw100(tmp_path / "RefMatte_RW_100")
    out = tmp_path / "manifests/rw100"
    r = runner.invoke(app, ["import-rw100", str(tmp_path / "RefMatte_RW_100"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "2 skipped" in r.output and "rw_9.jpg not found" in r.output
    assert "take part in the expression setting only" in r.output
    assert "matte rw_2_1.png is 32x32, image rw_2.jpg is 64x48" in r.output
    rows = read_manifest(out / "rw100.parquet", "expression")
    assert len(rows) == 5 and (rows.eval_expression == 1).all()
    assert [eval_text(r, "expression") for _, r in rows.iterrows()][0] == "thing 0"
    assert Path(rows.image_file.iloc[0]).is_file() and rows.slot.tolist() == [0, 1, 0, 1, 0]
    # a perfect method scores zero through clipmat score
    preds = tmp_path / "preds"
    preds.mkdir()
    for row in rows.itertuples():
        (preds / Path(row.matte_file).name).write_bytes(Path(row.matte_file).read_bytes())
    r = runner.invoke(clipmat_app, ["score", str(preds), str(out / "rw100.parquet"), "--setting", "expression",
                                    "--csv", str(tmp_path / "s.csv")])
    assert r.exit_code == 0, r.output
    assert (pd.read_csv(tmp_path / "s.csv").sad == 0).all()


def test_import_refmatte_both_splits(tmp_path):
    make_refmatte(tmp_path / "RefMatte")
    r = runner.invoke(app, ["import-refmatte", str(tmp_path / "RefMatte"), "--out", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    for split in ("train", "test"):
        rows = read_manifest(tmp_path / "m" / f"{split}.parquet", "keyword")
        assert len(rows) == 4 and set(rows.keyword) == {"cat0", "cat1"} and rows.keyword_valid.all()


def test_import_names_a_wrong_folder(tmp_path):
    r = runner.invoke(app, ["import-refmatte", str(tmp_path)])
    assert r.exit_code == 2 and "does not look like the RefMatte release" in r.output
    r = runner.invoke(app, ["import-rw100", str(tmp_path)])
    assert r.exit_code == 2 and "does not look like RefMatte-RW100: missing" in r.output
