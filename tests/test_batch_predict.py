"""clipmat predict over many images with one model load (issue 18, part 1)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from clipmat.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def ckpt(tiny_ckpt):
    return tiny_ckpt


@pytest.fixture()
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in {"a.png": (60, 90), "b.jpg": (77, 101)}.items():
        cv2.imwrite(str(folder / name), (rng.random((h, w, 3)) * 255).astype(np.uint8))
    (folder / "notes.txt").write_text("not an image")
    return folder


def _predict(*args):
    return runner.invoke(app, ["predict", *map(str, args), "--device", "cpu"])


def test_a_folder_with_two_phrases_writes_alpha_cutout_and_composite_and_resumes(ckpt, photos, tmp_path):
    out = tmp_path / "out"
    r = _predict(ckpt, photos, "--text", "cat", "--text", "the dog on the left", "--out-dir", out, "--cutouts",
                 "--composite", "white")
    assert r.exit_code == 0, r.output
    assert "4 mattes written" in r.output and "0 failed" in r.output
    assert sorted(p.name for p in out.glob("*.png")) == ["a_0.png", "a_1.png", "b_0.png", "b_1.png"]
    assert cv2.imread(str(out / "b_1.png"), cv2.IMREAD_GRAYSCALE).shape == (77, 101)
    assert cv2.imread(str(out / "cutout/a_0.png"), cv2.IMREAD_UNCHANGED).shape == (60, 90, 4)
    assert cv2.imread(str(out / "composite/b_0.jpg")).shape == (77, 101, 3)
    before = (out / "a_0.png").read_bytes()
    from refmatte.atomic import _HOST

    dead = out / "cutout" / f".refmatte-tmp-{_HOST}-999999-b_0.png"  # what a kill -9 mid-write leaves
    dead.write_bytes(b"half a PNG")
    mine = out / ".notes.tmp"  # a user's own hidden file: never touched
    mine.write_text("keep")
    r = _predict(ckpt, photos, "--text", "cat", "--text", "the dog on the left", "--out-dir", out)
    assert r.exit_code == 0 and "0 mattes written" in r.output and "4 already there" in r.output
    assert "removed 1 temporary file a killed run left" in r.output and not dead.exists() and mine.read_text() == "keep"
    r = _predict(ckpt, photos, "--text", "cat", "--text", "the dog on the left", "--out-dir", out, "--overwrite",
                 "--batch-size", "1")
    assert "4 mattes written" in r.output and (out / "a_0.png").read_bytes() == before  # same bytes, any batch size


def test_a_list_names_its_bad_rows_and_goes_on(ckpt, photos, tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text("image,text,id\nphotos/a.png,cat,first\nphotos/missing.png,dog,second\n"
                       "photos/b.jpg,the dog,../../escape\nphotos/b.jpg,,empty\nphotos/b.jpg,a bird,\n")
    out = tmp_path / "out"
    r = _predict(ckpt, listing, "--out-dir", out)
    assert r.exit_code == 0, r.output
    assert "2 mattes written" in r.output and "3 failed" in r.output
    assert "missing.png" in r.output and "not a plain file name" in r.output and "must both be given" in r.output
    assert sorted(p.name for p in out.iterdir()) == ["b_5.png", "first.png"]
    assert not list(tmp_path.parent.glob("escape*"))
    jsonl = tmp_path / "list.jsonl"
    jsonl.write_text(json.dumps({"image": str(photos / "a.png"), "text": "cat", "id": "x"}) + "\n"
                     + json.dumps({"image": str(photos / "b.jpg")}) + "\n" + json.dumps({"image": 3, "text": None}) + "\n")
    r = _predict(ckpt, jsonl, "--out-dir", out)
    assert r.exit_code == 0 and (out / "x.png").is_file() and "2 failed" in r.output, r.output
    assert not list(out.glob("*nan*"))  # a missing text is reported, never predicted as the word "nan"


def test_a_manifest_never_writes_over_its_true_mattes(ckpt, demo):
    matte_dir = next((demo / "manifests/mattes").iterdir())  # where the test split's true mattes are
    before = {p: p.read_bytes() for p in matte_dir.iterdir()}
    r = _predict(ckpt, demo / "manifests/test.parquet", "--out-dir", matte_dir, "--overwrite")
    assert r.exit_code == 2 and "would overwrite an input" in r.output
    assert {p: p.read_bytes() for p in matte_dir.iterdir()} == before


def test_a_manifest_is_predicted_under_its_matte_names_and_scored(ckpt, demo, tmp_path):
    out = tmp_path / "preds"
    r = _predict(ckpt, demo / "manifests/test.parquet", "--out-dir", out)
    assert r.exit_code == 0, r.output
    csv = tmp_path / "score.csv"
    r = runner.invoke(app, ["score", str(out), str(demo / "manifests/test.parquet"), "--csv", str(csv),
                            "--metrics", "sad"])
    assert r.exit_code == 0, r.output
    scored = json.loads(csv.with_suffix(".json").read_text())
    assert scored["entities"] == len(list(out.glob("*.png"))) > 0


def test_inputs_are_never_overwritten_and_wrong_calls_are_one_sentence(ckpt, photos, tmp_path):
    r = _predict(ckpt, photos, "--text", "cat", "--out-dir", photos)
    assert r.exit_code == 2 and "is the folder of input images" in r.output
    listing = tmp_path / "in.csv"
    listing.write_text(f"image,text,id\n{photos / 'a.png'},cat,a\n")
    r = _predict(ckpt, listing, "--out-dir", photos)  # photos/a.png would be a's alpha
    assert r.exit_code == 2 and "would overwrite an input" in r.output
    assert cv2.imread(str(photos / "a.png")).shape == (60, 90, 3)
    r = _predict(ckpt, photos, "--out-dir", tmp_path / "o")
    assert r.exit_code == 2 and "--text" in r.output
    r = _predict(ckpt, photos, "cat", "--out-dir", tmp_path / "o")
    assert r.exit_code == 2 and "not as an argument" in r.output
    r = _predict(ckpt, photos / "a.png")
    assert r.exit_code == 2 and "give the PHRASE" in r.output
    r = _predict(ckpt, photos, "--text", "cat", "--out-dir", tmp_path / "o", "--composite", "nocolour")
    assert r.exit_code == 2 and "nocolour" in r.output and not (tmp_path / "o").exists()
    dup = tmp_path / "dup.csv"
    dup.write_text("image,text,id\nphotos/a.png,cat,same\nphotos/b.jpg,cat,same\n".replace("photos/", str(photos) + "/"))
    r = _predict(ckpt, dup, "--out-dir", tmp_path / "o")
    assert r.exit_code == 2 and "would both be written" in r.output
