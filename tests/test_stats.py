"""Issue 14 item 7: `refmatte stats` on our manifests and the imported official ones, side by side, with charts."""

from __future__ import annotations

import json

from PIL import Image
from typer.testing import CliRunner

from refmatte.cli import app
from refmatte.express.stats import length_by_form, read_manifest, table1
from tests.hostile import one_sentence
from tests.test_benchmarks import make_refmatte, make_rw100

runner = CliRunner()


def test_official_and_our_manifests_side_by_side_with_charts(demo, tmp_path):
    make_rw100(tmp_path / "rw")
    make_refmatte(tmp_path / "rm")
    assert runner.invoke(app, ["import-rw100", str(tmp_path / "rw"), "--out", str(tmp_path / "m/rw100")]).exit_code == 0
    assert runner.invoke(app, ["import-refmatte", str(tmp_path / "rm"), "--out", str(tmp_path / "m/refmatte")]).exit_code == 0
    rw100 = tmp_path / "m/rw100/rw100.parquet"
    kind, rows = read_manifest(rw100)
    labels = json.loads((tmp_path / "rw/refmatte_rw100_label.json").read_text())
    kept = [labels[r["entity_id"]]["expressions"] for r in rows]
    want = sum(len(t.split()) for ex in kept for t in ex) / sum(len(ex) for ex in kept)  # by hand from the labels
    assert kind == "official" and length_by_form(rows) == {"all": want}
    row = next(r for r in table1(rows) if r["setting"] == "expression")
    assert row["split"] == "rw100" and row["mattes"] == len(rows) and abs(row["text_length"] - want) < 1e-9

    ours = demo / "manifests/train.parquet"
    r = runner.invoke(app, ["stats", str(ours), str(rw100), str(tmp_path / "m/refmatte/test.parquet"),
                            "--plots", str(tmp_path / "plots")], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "│ train.parquet │" in text and "│ rw100.parquet │" in text and "│ test.parquet │" in text  # short, unique
    assert "rw100 │ expression" in text and f"{want:.2f}" in text
    assert "words per form: basic" in text and "relative" in text  # ours has forms, the official ones do not
    pictures = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pictures == ["attributes.png", "keywords.png", "position_words.png", "relation_words.png", "words_per_form.png"]
    for p in (tmp_path / "plots").iterdir():
        with Image.open(p) as im:
            assert im.format == "PNG" and im.width > 300


def test_a_file_that_is_no_manifest_is_one_sentence(tmp_path, demo):
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    message = one_sentence(runner.invoke(app, ["stats", str(tmp_path / "x.parquet")]))
    assert "x.parquet is not a readable Parquet manifest" in message
    message = one_sentence(runner.invoke(app, ["stats", str(demo / "manifests/entities.parquet")]))
    assert "is neither a composite manifest" in message
    message = one_sentence(runner.invoke(app, ["stats", str(tmp_path / "missing.parquet")]))
    assert "missing.parquet not found" in message
