"""Issue 14 item 7: `refmatte stats` on our manifests and the imported official ones, side by side, with charts."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from refmatte.cli import app
from refmatte.compose.run import JOURNAL, STAGING_DIR
from refmatte.express.stats import length_by_form, read_manifest, table1, word_counts
from refmatte.schema import COMPOSITE_SCHEMA
from tests.hostile import one_sentence
from tests.test_benchmarks import make_refmatte, make_rw100

runner = CliRunner()
CHARTS = ["attributes.png", "keywords.png", "position_words.png", "relation_words.png", "words_per_form.png"]

# Two train images: "a" (dog and cat, keywords valid: 3+8+8 and 2+8 words) and "b" (two persons,
# keyword_valid false: 3 and 8 words). Expression setting 40 words / 7 texts; keyword setting image a only.
OURS = [
    dict(image_id="a", slot=0, entity_id="e1", category="dog", keyword="dog", keyword_valid=True,
         expressions=["the brown dog", "the dog in the middle of the picture", "the dog to the left of the cat"],
         expression_forms=["basic", "absolute", "relative"]),
    dict(image_id="a", slot=1, entity_id="e2", category="cat", keyword="cat", keyword_valid=True,
         expressions=["the cat", "the cat to the right of the dog"], expression_forms=["basic", "relative"]),
    dict(image_id="b", slot=0, entity_id="e3", category="person", keyword="person", keyword_valid=False,
         expressions=["the female person"], expression_forms=["basic"]),
    dict(image_id="b", slot=1, entity_id="e4", category="person", keyword="person", keyword_valid=False,
         expressions=["the person in front of the other person"], expression_forms=["relative"]),
]


def _filler(t: pa.DataType):
    """A value of type ``t`` for the required columns the statistics do not read."""
    if pa.types.is_string(t):
        return "x"
    if pa.types.is_list(t):
        return []
    return 0


def composite_manifest(path: Path, rows: list[dict], split: str = "train") -> Path:
    """A small composite manifest: the given columns, fillers for the other required ones, nulls elsewhere."""
    columns = {}
    for f in COMPOSITE_SCHEMA:
        if f.name == "split":
            columns[f.name] = [split] * len(rows)
        elif f.name in rows[0]:
            columns[f.name] = [r[f.name] for r in rows]
        elif not f.nullable:
            columns[f.name] = [_filler(f.type)] * len(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({k: pa.array(v, COMPOSITE_SCHEMA.field(k).type) for k, v in columns.items()}), path)
    return path


def official_manifests(tmp_path: Path) -> tuple[Path, Path]:
    """The fake RW100 and RefMatte releases of test_benchmarks, imported: (rw100.parquet, refmatte test.parquet)."""
    make_rw100(tmp_path / "rw")
    make_refmatte(tmp_path / "rm")
    assert runner.invoke(app, ["import-rw100", str(tmp_path / "rw"), "--out", str(tmp_path / "m/rw100")]).exit_code == 0
    assert runner.invoke(app, ["import-refmatte", str(tmp_path / "rm"), "--out", str(tmp_path / "m/refmatte")]).exit_code == 0
    return tmp_path / "m/rw100/rw100.parquet", tmp_path / "m/refmatte/test.parquet"


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the printed Table 1, as cells."""
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in output.splitlines() if line.count("│") > 2]
    return [c for c in cells if c and c[0] != "manifest"]


def test_our_manifest_counted_by_hand(tmp_path):
    kind, rows = read_manifest(composite_manifest(tmp_path / "train.parquet", OURS))
    assert kind == "ours" and "expression_facts" not in rows[0]  # not read: stats must not depend on it
    keyword, expression = table1(rows)
    assert keyword == dict(split="train", setting="keyword", images=1, mattes=2, texts=2, categories=2, text_length=1.0)
    assert expression == dict(split="train", setting="expression", images=2, mattes=4, texts=7, categories=3,
                              text_length=40 / 7)
    assert length_by_form(rows) == {"basic": 8 / 3, "absolute": 8.0, "relative": 8.0, "all": 40 / 7}
    counts = word_counts(rows)
    assert counts["relation words"] == {"to the left of": 1, "to the right of": 1, "in front of": 1}
    assert counts["position words"] == {"in the middle of": 1}
    assert counts["attributes"] == {"female": 1, "colour": 1}
    assert counts["forms"] == {"basic": 3, "relative": 3, "absolute": 1}


def test_ours_and_official_side_by_side_with_charts(tmp_path):
    rw100, refmatte_test = official_manifests(tmp_path)
    ours = composite_manifest(tmp_path / "ours/train.parquet", OURS)
    kind, rows = read_manifest(rw100)
    # RW100: rw_0..rw_2 with two entities each, rw_2_1 skipped (wrong size); every entity says
    # "left thing k" (3 words) and "thing k" (2 words): 2.5 words; no keywords.
    assert kind == "official" and len(rows) == 5 and length_by_form(rows) == {"all": 2.5}

    r = runner.invoke(app, ["stats", str(ours), str(rw100), str(refmatte_test), "--plots", str(tmp_path / "plots")],
                      env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert table_rows(r.output) == [
        ["train.parquet", "ours", "train", "keyword", "1", "2", "2", "2", "1.00"],
        ["train.parquet", "ours", "train", "expression", "2", "4", "7", "3", "5.71"],
        ["rw100.parquet", "official", "rw100", "keyword", "0", "0", "0", "0", "-"],
        ["rw100.parquet", "official", "rw100", "expression", "3", "5", "10", "0", "2.50"],
        ["test.parquet", "official", "test", "keyword", "2", "4", "4", "2", "1.00"],  # "the thing k": 3 words
        ["test.parquet", "official", "test", "expression", "2", "4", "4", "2", "3.00"],
    ]
    text = " ".join(r.output.split())
    assert "train.parquet words per form: basic 2.67, absolute 8.00, relative 8.00, all 5.71" in text
    assert "rw100.parquet words per form: all 2.50" in text and "test.parquet words per form: all 3.00" in text
    assert "relation words: to the left of 1 (33%)" in text and "keywords: cat0 2 (50%), cat1 2 (50%)" in text
    written = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert written == CHARTS and all(f"wrote {tmp_path / 'plots' / c}" in text for c in CHARTS)
    for name in CHARTS:
        with Image.open(tmp_path / "plots" / name) as im:
            assert im.format == "PNG" and im.width == 3 * 450  # one panel per manifest

    again = runner.invoke(app, ["stats", str(ours), str(rw100), str(refmatte_test), "--plots", str(tmp_path / "p2")])
    assert again.exit_code == 0, again.output
    assert all((tmp_path / "plots" / c).read_bytes() == (tmp_path / "p2" / c).read_bytes() for c in CHARTS)


def test_same_file_names_are_told_apart_by_their_folder(tmp_path):
    a = composite_manifest(tmp_path / "a/train.parquet", OURS)
    b = composite_manifest(tmp_path / "b/train.parquet", OURS[:2])
    r = runner.invoke(app, ["stats", str(a), str(b)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert [row[0] for row in table_rows(r.output)] == ["a/train.parquet"] * 2 + ["b/train.parquet"] * 2


def test_bad_manifests_are_one_sentence_naming_the_file(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    assert "x.parquet is not a readable Parquet manifest" in one_sentence(runner.invoke(app, ["stats", str(tmp_path / "x.parquet")]))
    pq.write_table(pa.table({"entity_id": ["e"], "source": ["am2k"]}), tmp_path / "entities.parquet")
    message = one_sentence(runner.invoke(app, ["stats", str(tmp_path / "entities.parquet")]))
    assert "entities.parquet is neither a composite manifest" in message
    assert "missing.parquet not found" in one_sentence(runner.invoke(app, ["stats", str(tmp_path / "missing.parquet")]))
    assert "is a folder" in one_sentence(runner.invoke(app, ["stats", str(tmp_path)]))
    broken = composite_manifest(tmp_path / "c/train.parquet", OURS).parent
    pq.write_table(pq.read_table(broken / "train.parquet").drop_columns(["arrangement"]).append_column(
        "arrangement", pa.array([None] * 4, pa.string())), broken / "bad.parquet")
    message = one_sentence(runner.invoke(app, ["stats", str(broken / "bad.parquet")]))
    assert "bad.parquet: column arrangement has 4 empty value(s)" in message


def test_an_interrupted_compose_is_refused(tmp_path):
    manifest = composite_manifest(tmp_path / "train.parquet", OURS)
    (tmp_path / STAGING_DIR / "train").mkdir(parents=True)
    (tmp_path / STAGING_DIR / "train" / JOURNAL).write_bytes(b"")
    message = one_sentence(runner.invoke(app, ["stats", str(manifest)]))
    assert "train.parquet: a refmatte compose of this split was killed while committing" in message


def test_plots_without_matplotlib_or_into_a_file(tmp_path, monkeypatch):
    manifest = composite_manifest(tmp_path / "train.parquet", OURS)
    (tmp_path / "file").write_text("")
    assert "--plots folder" in one_sentence(runner.invoke(app, ["stats", str(manifest), "--plots", str(tmp_path / "file")]))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    message = one_sentence(runner.invoke(app, ["stats", str(manifest), "--plots", str(tmp_path / "plots")]))
    assert "pip install 'refmatte[plots]'" in message and not (tmp_path / "plots").exists()


@pytest.mark.parametrize("forms", [None, ["basic"]])
def test_missing_or_short_forms_still_count_every_expression(forms):
    rows = [dict(expressions=["a b", "a b c d"], expression_forms=forms)]
    assert length_by_form(rows) == ({"all": 3.0} if forms is None else {"basic": 2.0, "all": 3.0})
