"""Issue 13, import-refmatte / import-rw100: a release's label JSON is data."""

from __future__ import annotations

import json

import pandas as pd
from typer.testing import CliRunner

from refmatte.cli import app
from tests.hostile import cli, digest, one_sentence, png_bomb, sentence, surroundings
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


def test_blank_expressions_are_dropped_and_the_evaluation_index_follows(tmp_path):
    root = tmp_path / "RefMatte_RW_100"
    make_rw100(root)
    labels = json.loads((root / "refmatte_rw100_label.json").read_text())
    labels["rw_0_0"]["expressions"] = ["", "left thing 0", "   ", "thing 0"]  # the official index 1 names "thing 0"...
    labels["rw_0_1"]["expressions"] = ["", "  "]
    (root / "refmatte_rw100_label.json").write_text(json.dumps(labels))
    index = json.loads((root / "eval_index_expression.json").read_text())
    index["rw_0_0"] = 3  # ...here at position 3, and 1 once the blanks are gone
    (root / "eval_index_expression.json").write_text(json.dumps(index))
    out = tmp_path / "m"
    r = runner.invoke(app, ["import-rw100", str(root), "--out", str(out)])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "rw_0_1: every expression is blank" in text and "rw_0_0: 2 blank expression(s) dropped" in text
    assert "3 skipped (not imported)" in text  # rw_0_1, the missing rw_9, the mis-sized rw_2_1; notes apart
    rows = pd.read_parquet(out / "rw100.parquet").set_index("entity_id")
    assert list(rows.loc["rw_0_0", "expressions"]) == ["left thing 0", "thing 0"]
    assert rows.loc["rw_0_0", "eval_expression"] == 1 and "rw_0_1" not in rows.index


def test_import_refmatte_writes_no_split_when_one_is_unreadable(tmp_path):
    root = tmp_path / "RefMatte"
    make_refmatte(root)
    (root / "test/refmatte_test_label.json").write_text("{broken")
    out = tmp_path / "m"
    message = one_sentence(runner.invoke(app, ["import-refmatte", str(root), "--out", str(out)]))
    assert "refmatte_test_label.json is not readable JSON" in message
    assert not (out / "train.parquet").exists()
