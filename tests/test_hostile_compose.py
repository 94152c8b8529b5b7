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
from tests.hostile import cli, digest, one_sentence, sentence, surroundings

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
    # until the commit is finished, the mixed files are refused by every reader
    for reader in (["preview", str(composed / "test.parquet"), "--out", str(tmp_path / "p.html")],
                   ["stats", str(composed / "test.parquet")]):
        assert "was killed while committing" in one_sentence(runner.invoke(app, reader))
    from clipmat.data import DataError, read_manifest

    with pytest.raises(DataError, match="was killed while committing"):
        read_manifest(composed / "test.parquet", "keyword")
    s = compose(composed, opts)
    assert s.rendered == 0 and output_of(composed) == output_of(reference)


def test_express_finishes_an_interrupted_commit(composed, monkeypatch):
    import os

    import refmatte.compose.run as run
    from refmatte.compose import ComposeOptions, compose

    real = os.replace

    def dying(src, dst):
        if Path(src).name == "commit.parquet":  # every staged file moved, the manifest not yet replaced
            raise KeyboardInterrupt
        return real(src, dst)

    monkeypatch.setattr(run.os, "replace", dying)
    with pytest.raises(KeyboardInterrupt):
        compose(composed, ComposeOptions(split="test", per_group=1, min_category_size=1, long_side=200))
    monkeypatch.setattr(run.os, "replace", real)
    r = runner.invoke(app, ["express", str(composed / "test.parquet")])
    assert r.exit_code == 0, r.output
    rows = pq.read_table(composed / "test.parquet").to_pylist()
    assert max(r["width"] for r in rows) == 200 and not (composed / ".staging/test").exists()


def test_a_file_staged_for_other_options_is_never_committed(composed, tmp_path, monkeypatch):
    import refmatte.compose.run as run
    from refmatte.compose import ComposeOptions, compose
    from refmatte.compose.run import ComposeError
    from tests.test_compose import die_at_render

    reference = tmp_path / "reference"
    shutil.copytree(composed, reference)
    a = ComposeOptions(split="test", per_group=1, min_category_size=1, long_side=200)
    compose(reference, a)
    rows = pq.read_table(composed / "entities.parquet").to_pylist()
    used = {r["entity_id"] for r in pq.read_table(composed / "test.parquet").to_pylist()}
    cache = composed / next(r["rgba_path"] for r in rows if r["entity_id"] in used)
    good = cache.read_bytes()
    cache.write_bytes(good[:64])
    with pytest.raises(ComposeError):  # options A: some images staged, one broken: nothing committed
        compose(composed, a)
    cache.write_bytes(good)
    real = die_at_render(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):  # options B redraws the first image into staging, then dies unflushed
        compose(composed, ComposeOptions(split="test", per_group=1, min_category_size=1, long_side=160))
    monkeypatch.setattr(run, "render", real)
    compose(composed, a)
    assert output_of(composed) == output_of(reference)


def test_a_plan_none_of_whose_images_can_be_placed_commits_nothing(composed, monkeypatch):
    import refmatte.compose.render as render
    from refmatte.compose import ComposeOptions, compose
    from refmatte.compose.run import ComposeError

    def never(task, H, W, cuts):
        raise render.PlacementError(f"{task.plan.image_id}: no placement")

    monkeypatch.setattr(render, "place", never)
    before = output_of(composed)
    with pytest.raises(ComposeError, match="none of the .* planned images could be placed, so nothing was committed"):
        compose(composed, ComposeOptions(split="test", per_group=1, min_category_size=1, long_side=200))
    assert output_of(composed) == before


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


def test_a_re_run_prunes_only_files_compose_wrote(composed, tmp_path):
    mine = {composed / "images/test/holiday.jpg": b"a user's photo", composed / "mattes/test/README.txt": b"notes",
            composed / "images/test/test-000001-edited.jpg": b"a user's edit"}
    for path, data in mine.items():
        path.write_bytes(data)
    r = runner.invoke(app, [*COMPOSE, "--per-group", "1", "--long-side", "200", "--out", str(composed)])
    assert r.exit_code == 0, r.output
    assert all(path.read_bytes() == data for path, data in mine.items())
    named = {r[c] for r in pq.read_table(composed / "test.parquet").to_pylist() for c in ("image_path", "matte_path")}
    ours = {p.relative_to(composed).as_posix() for d in ("images/test", "mattes/test")
            for p in (composed / d).iterdir() if p not in mine}
    assert ours == named  # and every file of compose's own names that the manifest dropped is gone


def test_an_output_folder_linked_out_of_the_manifest_folder_is_refused(composed, tmp_path):
    victim = surroundings(tmp_path)
    shutil.rmtree(composed / "images/test")
    (composed / "images/test").symlink_to(victim, target_is_directory=True)
    before = digest(victim)
    message = one_sentence(runner.invoke(app, [*COMPOSE, "--out", str(composed)]))
    assert "folder images/test" in message and "through a symbolic link" in message
    assert digest(victim) == before


@pytest.mark.parametrize("command, expected", [
    (lambda m, t: ["preview", str(m / "test.parquet"), "--out", str(m / "train.parquet")], "must end in .html or .htm"),
    (lambda m, t: ["preview", str(m / "test.parquet"), "--out", str(m / "test.parquet")], "must end in .html"),
    (lambda m, t: ["labels", "export", "--out", str(m), "--file", str(m / "entities.parquet")], "must end in .csv"),
    (lambda m, t: ["labels", "export", "--out", str(m), "--file", str(m)], "is a folder"),
])
def test_an_output_named_like_an_input_is_refused(composed, tmp_path, command, expected):
    before = digest(composed)
    message = one_sentence(runner.invoke(app, command(composed, tmp_path)))
    assert expected in message and digest(composed) == before


def test_labels_export_into_a_read_only_folder_is_one_sentence(composed, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    message = sentence(cli("refmatte", "labels", "export", "--out", str(composed), "--file", str(locked / "review.csv"),
                           read_only=locked))
    assert "cannot write" in message and "locked/review.csv" in message


def test_two_review_rows_about_one_entity_are_refused(composed, tmp_path):
    entity = pq.read_table(composed / "entities.parquet").to_pylist()[0]["entity_id"]
    review = tmp_path / "review.csv"
    review.write_text(f"entity_id,category\n{entity},chair\n{entity},sofa\n")
    message = one_sentence(runner.invoke(app, ["labels", "import", str(review), "--out", str(composed)]))
    assert f"review.csv lines 2 and 3 are both about entity {entity}; keep one row per entity" in message
    assert not (composed / "hand_labels.csv").exists()
