"""Issue 13, compose / express / labels: a failed or crafted re-run never destroys the last good output."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from refmatte.atomic import exclusive
from refmatte.cli import app
from refmatte.schema import COMPOSITE_SCHEMA
from tests.hostile import digest, one_sentence, surroundings

runner = CliRunner()
COMPOSE = ["compose", "--split", "test", "--per-group", "1", "--min-category-size", "1", "--long-side", "256"]


def output_of(m):
    """What a compose run owns: the split's manifest, images and mattes."""
    return {k: v for k, v in digest(m).items() if k.startswith(("images/", "mattes/", "test.parquet"))}


@pytest.fixture
def composed(demo, tmp_path):
    """A copy of the demo's manifests with a committed test split of its own."""
    m = tmp_path / "m"
    shutil.copytree(demo / "manifests", m, ignore=shutil.ignore_patterns("images", "mattes", "train.parquet", "test.parquet"))
    r = runner.invoke(app, [*COMPOSE, "--out", str(m)])
    assert r.exit_code == 0, r.output
    return m


def test_a_moved_manifest_folder_is_named_not_emptied(composed, tmp_path):
    moved = tmp_path / "one" / "level" / "deeper"  # relative source paths now point nowhere
    shutil.copytree(composed, moved)
    before = output_of(moved)
    message = one_sentence(runner.invoke(app, [*COMPOSE, "--long-side", "200", "--out", str(moved)]))
    assert "background images named by" in message and "are not there (first:" in message
    assert f"run `refmatte backgrounds sample --out {moved}`" in message
    assert output_of(moved) == before  # the previous images, mattes and manifest are all still there
    assert runner.invoke(app, ["backgrounds", "sample", "--out", str(moved)]).exit_code == 0  # the remedy
    r = runner.invoke(app, [*COMPOSE, "--long-side", "200", "--out", str(moved)])
    assert r.exit_code == 0, r.output
    rows = pq.read_table(moved / "test.parquet").to_pylist()
    assert rows and max(r["width"] for r in rows) == 200


def test_failed_renders_exit_non_zero_and_keep_the_previous_output(composed):
    before = output_of(composed)
    rows = pq.read_table(composed / "entities.parquet").to_pylist()
    used = {r["entity_id"] for r in pq.read_table(composed / "test.parquet").to_pylist()}
    cache = composed / next(r["rgba_path"] for r in rows if r["entity_id"] in used)
    good = cache.read_bytes()
    cache.write_bytes(good[:64])  # broken since ingest: found only when decoded
    message = one_sentence(runner.invoke(app, [*COMPOSE, "--long-side", "200", "--out", str(composed)]))
    assert "images could not be rendered, so nothing was committed" in message and "not an RGBA PNG" in message
    assert output_of(composed) == before
    cache.write_bytes(good)
    r = runner.invoke(app, [*COMPOSE, "--long-side", "200", "--out", str(composed)])
    assert r.exit_code == 0 and "already done" in r.output, r.output  # the renders that worked are reused
    assert output_of(composed) != before and not (composed / ".staging/test").exists()


def test_a_run_killed_while_committing_is_finished_by_the_next(composed, tmp_path, monkeypatch):
    import os

    import refmatte.compose.run as run

    reference = tmp_path / "reference"
    shutil.copytree(composed, reference)
    assert runner.invoke(app, [*COMPOSE, "--long-side", "200", "--out", str(reference)]).exit_code == 0
    real, calls = os.replace, {"n": 0}

    def dying(src, dst):
        if ".staging" in str(src) and not Path(src).name.startswith(".refmatte-tmp-"):
            calls["n"] += 1  # a staged file (or the journal) moving into place
            if calls["n"] == 3:
                raise KeyboardInterrupt
        return real(src, dst)

    from refmatte.compose import ComposeOptions, compose

    opts = ComposeOptions(split="test", per_group=1, min_category_size=1, long_side=200)
    monkeypatch.setattr(run.os, "replace", dying)
    with pytest.raises(KeyboardInterrupt):
        compose(composed, opts)
    monkeypatch.setattr(run.os, "replace", real)
    assert (composed / ".staging/test/commit.parquet").is_file()
    s = compose(composed, opts)
    assert s.rendered == 0 and output_of(composed) == output_of(reference)


def test_stored_paths_that_leave_the_folder_are_refused(composed, tmp_path):
    victim = surroundings(tmp_path)
    rows = pq.read_table(composed / "test.parquet").to_pylist()
    rows[0]["matte_path"] = "../victim/secret.txt"
    pq.write_table(pa.Table.from_pylist(rows, schema=COMPOSITE_SCHEMA), composed / "test.parquet")
    before, own = digest(victim), output_of(composed)
    message = one_sentence(runner.invoke(app, [*COMPOSE, "--out", str(composed)]))
    assert f"row {rows[0]['image_id']}, matte_path" in message and "leaves" in message
    assert digest(victim) == before and output_of(composed) == own


def test_express_and_labels_import_wait_for_the_folder_lock(composed, tmp_path):
    before = digest(composed)
    review = tmp_path / "review.csv"
    entity = pq.read_table(composed / "entities.parquet").to_pylist()[0]["entity_id"]
    review.write_text(f"entity_id,category\n{entity},chair\n")
    with exclusive(composed):  # a compose (or annotate, ingest) is writing the folder
        for args in (["express", str(composed / "test.parquet")], ["labels", "import", str(review), "--out", str(composed)]):
            message = one_sentence(runner.invoke(app, args))
            assert f"another run is writing to {composed}" in message
    assert digest(composed) == before


def test_a_short_review_row_is_refused_not_read_as_withdrawals(composed, tmp_path):
    entity = pq.read_table(composed / "entities.parquet").to_pylist()[0]["entity_id"]
    review = tmp_path / "review.csv"
    review.write_text(f"entity_id,category,gender,age_group,clothes\n{entity},chair\n")
    message = one_sentence(runner.invoke(app, ["labels", "import", str(review), "--out", str(composed)]))
    assert "review.csv line 2 has 2 cells but the header has 5" in message
    assert not (composed / "hand_labels.csv").exists()


def test_expressions_stored_as_text_are_refused_by_express(composed):
    table = pq.read_table(composed / "test.parquet")
    i = table.schema.get_field_index("expressions")
    broken = table.set_column(i, "expressions", pa.array([" / ".join(e) for e in table["expressions"].to_pylist()]))
    pq.write_table(broken, composed / "test.parquet")
    before = (composed / "test.parquet").read_bytes()
    message = one_sentence(runner.invoke(app, ["express", str(composed / "test.parquet")]))
    assert "column expressions is stored as string but must be list<string>" in message
    assert (composed / "test.parquet").read_bytes() == before


def test_a_background_that_became_a_bomb_fails_the_run_not_the_machine(composed, tmp_path):
    from refmatte.schema import BACKGROUND_SCHEMA
    from tests.hostile import png_bomb

    png_bomb(tmp_path / "bomb.png")
    rows = pq.read_table(composed / "backgrounds.parquet").to_pylist()
    for r in rows:
        r["image_path"] = "../bomb.png"
    pq.write_table(pa.Table.from_pylist(rows, schema=BACKGROUND_SCHEMA), composed / "backgrounds.parquet")
    before = output_of(composed)
    message = one_sentence(runner.invoke(app, [*COMPOSE, "--long-side", "200", "--out", str(composed)]))
    assert "could not be rendered, so nothing was committed" in message and "over the pixel cap" in message
    assert output_of(composed) == before
