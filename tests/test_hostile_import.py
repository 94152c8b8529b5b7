"""Issue 13, import-refmatte / import-rw100: a release's label JSON is data."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from refmatte.cli import app
from tests.hostile import cli, digest, png_bomb, sentence, surroundings
from tests.test_benchmarks import _matte, make_refmatte, make_rw100

runner = CliRunner()


def test_malformed_labels_bombs_and_paths_are_skipped_by_name(tmp_path):
    root = tmp_path / "RefMatte_RW_100"
    make_rw100(root)
    victim = surroundings(tmp_path)
    labels = json.loads((root / "refmatte_rw100_label.json").read_text())
    labels["rw_0_0"]["expressions"] = 7  # not a list
    labels["rw_0_1"]["expressions"] = {"a": "dict"}
    labels["rw_1_0"]["image_name"] = "../../victim/secret.txt"  # a path, not a file name
    labels["../victim/secret"] = {"image_name": "rw_1.jpg", "expressions": ["up"]}
    png_bomb(root / "image/bomb.png")
    _matte(root / "mask/bomb_0.png", 64, 48, 0)
    labels["bomb_0"] = {"image_name": "bomb.png", "expressions": ["the bomb"]}
    (root / "refmatte_rw100_label.json").write_text(json.dumps(labels))
    before = digest(victim)
    out = tmp_path / "m"
    r = runner.invoke(app, ["import-rw100", str(root), "--out", str(out)])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "rw_0_0: expressions must be a list of strings, found int" in text
    assert "rw_0_1: expressions must be a list of strings, found dict" in text
    assert "rw_1_0: image_name '../../victim/secret.txt' is not a file name" in text
    assert "'../victim/secret': an entity key must be a matte's file name" in text
    assert "bomb_0:" in text and "20000x20000 px is over the pixel cap" in text
    rows = pd.read_parquet(out / "rw100.parquet")
    assert set(rows.entity_id) == {"rw_1_1", "rw_2_0"} and digest(victim) == before


def test_a_read_only_out_is_one_sentence(tmp_path):
    make_refmatte(tmp_path / "RefMatte")
    locked = tmp_path / "locked"
    locked.mkdir()
    message = sentence(cli("refmatte", "import-refmatte", str(tmp_path / "RefMatte"), "--out", str(locked / "m"),
                           read_only=locked))
    assert "locked/m" in message and "give a folder you can write to" in message
