"""Issue 13, ingest: what a crafted manifest, a bomb or an odd file does to `refmatte ingest`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from refmatte.atomic import TEMP_PREFIX, _HOST
from refmatte.cli import app
from refmatte.schema import ENTITY_SCHEMA, check_columns
from tests.hostile import cli, digest, folder_source, one_sentence, png_bomb, sentence, soft_alpha, surroundings

runner = CliRunner()


def ingest_args(src, out, *extra):
    return ["ingest", "folder", str(src), "--out", str(out), "--min-side", "16", "--no-face-filter", *extra]


def rows_of(out):
    return {r["source_key"].rsplit("/", 1)[-1]: r for r in pq.read_table(out / "entities.parquet").to_pylist()}


def test_a_stored_cache_path_that_leaves_the_folder_deletes_nothing(tmp_path):
    src, out = folder_source(tmp_path / "src", names=("a", "b")), tmp_path / "out"
    victim = surroundings(tmp_path)
    assert runner.invoke(app, ingest_args(src, out)).exit_code == 0
    (src / "image/a.png").unlink()  # row a is gone from the source: ingest prunes its cache
    for bad in (str(victim / "secret.txt"), "../victim/secret.txt"):
        rows = pq.read_table(out / "entities.parquet").to_pylist()
        target = next(r for r in rows if r["source_key"].endswith("a.png"))
        target["rgba_path"] = bad
        pq.write_table(pa.Table.from_pylist(rows, schema=ENTITY_SCHEMA), out / "entities.parquet")
        before, manifest = digest(victim), (out / "entities.parquet").read_bytes()
        message = one_sentence(runner.invoke(app, ingest_args(src, out)))
        assert f"row {target['entity_id']}, rgba_path" in message and "refusing to write or delete" in message
        assert digest(victim) == before and (out / "entities.parquet").read_bytes() == manifest


def test_a_link_in_the_folder_that_leads_out_of_it_deletes_nothing(tmp_path):
    src, out = folder_source(tmp_path / "src", names=("a", "b")), tmp_path / "out"
    victim = surroundings(tmp_path)
    assert runner.invoke(app, ingest_args(src, out)).exit_code == 0
    (out / "evil").symlink_to(victim, target_is_directory=True)  # shipped inside a shared manifest folder
    (src / "image/a.png").unlink()
    rows = pq.read_table(out / "entities.parquet").to_pylist()
    target = next(r for r in rows if r["source_key"].endswith("a.png"))
    target["rgba_path"] = "evil/secret.txt"  # lexically inside out
    pq.write_table(pa.Table.from_pylist(rows, schema=ENTITY_SCHEMA), out / "entities.parquet")
    before = digest(victim)
    message = one_sentence(runner.invoke(app, ingest_args(src, out)))
    assert f"row {target['entity_id']}, rgba_path" in message and "through a symbolic link" in message
    assert digest(victim) == before
    # the cache folder itself linked out of --out: refused before anything is written there
    (out / "evil").unlink()
    target["rgba_path"] = None
    pq.write_table(pa.Table.from_pylist(rows, schema=ENTITY_SCHEMA), out / "entities.parquet")
    shutil.rmtree(out / "cache/rgba")
    (out / "cache/rgba").symlink_to(victim, target_is_directory=True)
    message = one_sentence(runner.invoke(app, ingest_args(src, out)))
    assert "folder cache/rgba" in message and "through a symbolic link" in message and digest(victim) == before


def test_float_mattes_are_0_to_1_or_0_to_255_nothing_in_between(tmp_path):
    src = folder_source(tmp_path / "src", names=())
    h, w = 48, 64
    rng = np.random.default_rng(2)
    soft = soft_alpha(h, w).astype(np.float32) / 255
    cases = {"unit": soft, "byte": soft * 255, "over": soft * 1.01, "negative": soft - 0.2, "huge": soft * 1000}
    for name, matte in cases.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(src / f"image/{name}.png")
        Image.fromarray(matte.astype(np.float32), mode="F").save(src / f"alpha/{name}.tif")
    out = tmp_path / "out"
    assert runner.invoke(app, ingest_args(src, out)).exit_code == 0
    rows = rows_of(out)
    for name in ("unit", "byte"):  # the two scales mattes are stored in: the same 8-bit matte
        assert rows[f"{name}.png"]["reject_reason"] is None and "alpha-float-to-8bit" in rows[f"{name}.png"]["input_fixes"]
    assert rows["unit.png"]["alpha_mean"] == rows["byte.png"]["alpha_mean"]
    for name, span in (("over", "0 to 1.01"), ("negative", "-0.2 to 0.8"), ("huge", "0 to 1000")):
        assert rows[f"{name}.png"]["reject_reason"] == "unreadable_alpha", name
        assert f"float matte values span {span}" in rows[f"{name}.png"]["reject_detail"]


def test_a_float_column_is_an_integer_only_while_floats_hold_it_exactly():
    schema = [pa.field("seed", pa.int64(), nullable=False)]
    ok = check_columns(pa.table({"seed": pa.array([1.0, 2.0 ** 53])}), schema, "m.parquet")
    assert ok["seed"].to_pylist() == [1, 2 ** 53]
    with pytest.raises(ValueError, match=r"m.parquet: column seed is stored as float and holds 1\.15292e\+18"):
        check_columns(pa.table({"seed": pa.array([2.0 ** 60])}), schema, "m.parquet")
    with pytest.raises(ValueError, match="column seed has values that do not fit"):
        check_columns(pa.table({"seed": pa.array([1.5])}), schema, "m.parquet")


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path):
    src = folder_source(tmp_path / "src", names=("a",))
    png_bomb(src / "image/bomb.png")  # 20000 x 20000, about 400 KB
    Image.fromarray(soft_alpha(48, 64)).save(src / "alpha/bomb.png")
    assert (src / "image/bomb.png").stat().st_size < 1_000_000
    out = tmp_path / "out"
    # in a child process whose peak memory we read: the bomb decoded would cost 1.2 GB as RGB
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
    r = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "refmatte.cli", *ingest_args(src, out)],
                       capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    peak_mb = int(r.stdout.strip().splitlines()[-1]) / 1024
    assert peak_mb < 1000, f"ingest peaked at {peak_mb:.0f} MB"
    rows = rows_of(out)
    assert rows["bomb.png"]["reject_reason"] == "too_many_pixels" and "20000x20000 px" in rows["bomb.png"]["reject_detail"]
    assert rows["a.png"]["reject_reason"] is None
    assert "too_many_pixels" in r.stderr  # the summary counts it
    # the cap is an option (and an environment variable): a small cap refuses the ordinary image too
    again = runner.invoke(app, ["--max-pixels", "1000", *ingest_args(src, tmp_path / "small")])
    assert again.exit_code == 0 and rows_of(tmp_path / "small")["a.png"]["reject_reason"] == "too_many_pixels"


def test_animated_float_and_rotated_inputs_say_what_happened(tmp_path):
    src = folder_source(tmp_path / "src", names=("a",))
    h, w = 48, 64
    rng = np.random.default_rng(1)
    frames = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert("P") for _ in range(3)]
    frames[0].save(src / "image/gif.gif", save_all=True, append_images=frames[1:])
    Image.fromarray(soft_alpha(h, w)).save(src / "alpha/gif.png")
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(src / "image/apng.png")
    mattes = [Image.fromarray(soft_alpha(h, w)), Image.fromarray(np.zeros((h, w), np.uint8))]
    mattes[0].save(src / "alpha/apng.png", save_all=True, append_images=mattes[1:])  # an animated PNG matte
    nan = soft_alpha(h, w).astype(np.float32) / 255
    nan[5, 5] = np.nan
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(src / "image/nan.png")
    Image.fromarray(nan, mode="F").save(src / "alpha/nan.tif")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated by 90 degrees
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(src / "image/rot.jpg", exif=exif)
    Image.fromarray(soft_alpha(h, w)).save(src / "alpha/rot.png")  # the matte in the stored orientation
    out = tmp_path / "out"
    assert runner.invoke(app, ingest_args(src, out)).exit_code == 0
    rows = rows_of(out)
    assert rows["gif.gif"]["reject_reason"] is None and "first-of-3-frames" in rows["gif.gif"]["input_fixes"]
    assert rows["apng.png"]["reject_reason"] is None and "first-of-2-frames" in rows["apng.png"]["input_fixes"]
    assert rows["nan.png"]["reject_reason"] == "unreadable_alpha" and "NaN" in rows["nan.png"]["reject_detail"]
    assert rows["rot.jpg"]["reject_reason"] == "alpha_size_mismatch"
    assert "EXIF rotation (exif-orientation-6)" in rows["rot.jpg"]["reject_detail"]
    assert "fits the image's stored orientation" in rows["rot.jpg"]["reject_detail"]


def test_only_temporaries_of_dead_runs_are_swept(tmp_path):
    src, out = folder_source(tmp_path / "src"), tmp_path / "out"
    (out / "notes").mkdir(parents=True)
    mine = [out / ".plan.123.tmp", out / "notes" / ".draft.4567.tmp"]  # the old sweep deleted these
    for f in mine:
        f.write_text("a user's file")
    dead = out / f"{TEMP_PREFIX}{_HOST}-{2**22 + 7}-entities.parquet"  # left by a killed run
    dead.write_bytes(b"half")
    assert runner.invoke(app, ingest_args(src, out)).exit_code == 0
    assert all(f.read_text() == "a user's file" for f in mine) and not dead.exists()


def test_a_read_only_out_is_one_sentence(tmp_path):
    src = folder_source(tmp_path / "src")
    locked = tmp_path / "locked"
    locked.mkdir()
    message = sentence(cli("refmatte", *ingest_args(src, locked / "m"), read_only=locked))
    assert "locked/m" in message and "give a folder you can write to" in message
    out = tmp_path / "out"  # an existing manifest folder that became read-only
    assert runner.invoke(app, ingest_args(src, out)).exit_code == 0
    before = digest(out)
    (src / "image/c.png").write_bytes((src / "image/a.png").read_bytes())  # something new to ingest
    message = sentence(cli("refmatte", *ingest_args(src, out), read_only=out))
    assert str(out) in message and "write" in message
    assert digest(out) == before


def test_a_manifest_column_of_the_wrong_type_is_named_not_coerced(tmp_path):
    import pandas as pd

    src, out = folder_source(tmp_path / "src"), tmp_path / "out"
    assert runner.invoke(app, ingest_args(src, out)).exit_code == 0
    pd.read_parquet(out / "entities.parquet").to_parquet(out / "entities.parquet")  # a pandas round trip is fine
    r = runner.invoke(app, ingest_args(src, out))
    assert r.exit_code == 0 and "2 already up to date" in " ".join(r.output.split()), r.output
    table = pq.read_table(out / "entities.parquet")
    i = table.schema.get_field_index("width")
    pq.write_table(table.set_column(i, "width", pa.array([str(v) for v in table["width"].to_pylist()])),
                   out / "entities.parquet")
    before = (out / "entities.parquet").read_bytes()
    message = one_sentence(runner.invoke(app, ingest_args(src, out)))
    assert "entities.parquet: column width is stored as string but must be int32" in message
    assert (out / "entities.parquet").read_bytes() == before
