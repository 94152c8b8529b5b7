"""Issue 13, preview: ids and paths of a crafted manifest never become places to write."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from refmatte.cli import app
from refmatte.schema import ENTITY_SCHEMA
from tests.hostile import digest, folder_source, one_sentence, png_bomb, surroundings

runner = CliRunner()


def ingested(tmp_path):
    src, out = folder_source(tmp_path / "src", names=("a", "b", "c", "d")), tmp_path / "out"
    r = runner.invoke(app, ["ingest", "folder", str(src), "--out", str(out), "--min-side", "16", "--no-face-filter"])
    assert r.exit_code == 0, r.output
    return src, out


def test_ids_that_look_like_paths_stay_thumbnail_names(tmp_path):
    _, out = ingested(tmp_path)
    victim = surroundings(tmp_path)
    rows = pq.read_table(out / "entities.parquet").to_pylist()
    ids = [str(victim / "abs"), "../../victim/up", "..", ".hidden"]
    for row, bad in zip(rows, ids):
        row["entity_id"] = bad
    pq.write_table(pa.Table.from_pylist(rows, schema=ENTITY_SCHEMA), out / "entities.parquet")
    before, page = digest(tmp_path), tmp_path / "pages" / "p.html"
    r = runner.invoke(app, ["preview", str(out / "entities.parquet"), "--files", "--out", str(page)])
    assert r.exit_code == 0 and "4 pictures" in r.output, r.output
    after = digest(tmp_path)
    new = sorted(set(after) - set(before))
    assert all(f.startswith("pages/p_files/") or f == "pages/p.html" for f in new), new
    assert len([f for f in new if f.endswith(".webp")]) == 4
    assert {k: v for k, v in after.items() if k in before} == before  # nothing that was there changed
    for bad in ids:  # the page still shows each card under its real id
        assert bad.replace("/", "\\/") in page.read_text() or bad in page.read_text()


def test_a_bomb_named_by_a_manifest_becomes_a_card_without_picture(tmp_path):
    src, out = ingested(tmp_path)
    png_bomb(tmp_path / "bomb.png")
    rows = pq.read_table(out / "entities.parquet").to_pylist()
    rows[0].update(rgba_path=None, reject_reason="alpha_empty", image_path="../bomb.png", alpha_path=None)
    pq.write_table(pa.Table.from_pylist(rows, schema=ENTITY_SCHEMA), out / "entities.parquet")
    r = runner.invoke(app, ["preview", str(out / "entities.parquet"), "--out", str(tmp_path / "p.html")])
    assert r.exit_code == 0 and "1 without picture (too_many_pixels)" in " ".join(r.output.split()), r.output


def test_a_manifest_of_the_wrong_types_is_one_sentence(tmp_path):
    _, out = ingested(tmp_path)
    table = pq.read_table(out / "entities.parquet")
    i = table.schema.get_field_index("needs_review")
    pq.write_table(table.set_column(i, "needs_review", pa.array(["False"] * len(table))), out / "entities.parquet")
    message = one_sentence(runner.invoke(app, ["preview", str(out / "entities.parquet"), "--out", str(tmp_path / "p.html")]))
    assert "column needs_review is stored as string but must be bool" in message
    assert not (tmp_path / "p.html").exists()
