"""Issue 13, clipmat train / eval / score / predict: checkpoints, manifests and outputs are data."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from clipmat.cli import app
from refmatte.atomic import exclusive
from tests.hostile import cli, digest, one_sentence, png_bomb, sentence, surroundings

runner = CliRunner()


@pytest.fixture
def checkpoint(demo, tmp_path):
    """A private copy of the demo's trained tiny checkpoint."""
    path = tmp_path / "model.safetensors"
    shutil.copy(demo / "clipmat/final.safetensors", path)
    return path


def edit_metadata(path: Path, **changes) -> None:
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    for key, change in changes.items():
        meta[key] = change(meta[key]) if callable(change) else change
    save_file(load_file(str(path)), str(path), metadata=meta)


def photo(path: Path, h=40, w=56) -> Path:
    cv2.imwrite(str(path), (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8))
    return path


# --- checkpoints

def test_a_checkpoint_cannot_name_where_to_write(checkpoint, tmp_path, monkeypatch):
    victim = surroundings(tmp_path)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))  # where a load may make (and must remove) folders
    edit_metadata(checkpoint, config=lambda c: json.dumps({**json.loads(c), "clip_model": "../../victim/TRAVERSAL"}))
    before = digest(tmp_path)
    message = one_sentence(runner.invoke(app, ["predict", str(checkpoint), str(photo(tmp_path / "in.png")), "cat",
                                               "--out", str(tmp_path / "a.png")]))
    assert "clip_model '../../victim/TRAVERSAL' is not an open_clip architecture name" in message
    assert digest(tmp_path) == {**before, "in.png": digest(tmp_path)["in.png"]} and list(private_tmp.iterdir()) == []
    # an honest name whose registered architecture differs from the stored one: the stored one is
    # registered under its hash, from a temporary that is gone afterwards
    edit_metadata(checkpoint, config=lambda c: json.dumps({**json.loads(c), "clip_model": "ViT-B-16"}))
    r = runner.invoke(app, ["predict", str(checkpoint), str(tmp_path / "in.png"), "cat", "--out", str(tmp_path / "a.png")])
    assert r.exit_code == 0, r.output
    assert list(private_tmp.iterdir()) == [] and digest(victim) == {k[len("victim/"):]: v for k, v in before.items()
                                                                    if k.startswith("victim/")}


@pytest.mark.parametrize("edit, expected", [
    (lambda clip: {**clip, "vision_cfg": {**clip["vision_cfg"], "evil": 1}}, "keys clipmat does not accept: vision_cfg.evil"),
    (lambda clip: {**clip, "text_cfg": {**clip["text_cfg"], "hf_model_name": "org/model"}}, "text_cfg.hf_model_name"),
    (lambda clip: {**clip, "vision_cfg": {**clip["vision_cfg"], "width": 4096, "layers": 48}}, "do not belong together"),
    (lambda clip: [1, 2], "must be an open_clip model config"),
    (lambda clip: {**clip, "text_cfg": {**clip["text_cfg"], "context_length": 300000}},
     "text_cfg.context_length (not a positive integer <= 1024)"),  # a 360 GB attention mask
    (lambda clip: {**clip, "embed_dim": 10 ** 8}, "embed_dim (not a positive integer <= 16384)"),  # 12.8 GB projections
])
def test_a_crafted_clip_architecture_is_one_sentence(checkpoint, tmp_path, edit, expected):
    with safe_open(str(checkpoint), framework="pt") as f:
        clip = json.loads(f.metadata()["clip_config"])
    edit_metadata(checkpoint, clip_config=json.dumps(edit(clip)))
    message = one_sentence(runner.invoke(app, ["predict", str(checkpoint), str(photo(tmp_path / "in.png")), "cat",
                                               "--out", str(tmp_path / "a.png")]))
    assert expected in message and not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("field, values", [("std", [float("nan")] * 3), ("std", [1e-30] * 3), ("mean", [1e9] * 3),
                                           ("mean", [])])
def test_a_config_with_absurd_normalisation_is_refused_on_load(checkpoint, tmp_path, field, values):
    edit_metadata(checkpoint, config=lambda c: json.dumps({**json.loads(c), field: values}))
    message = one_sentence(runner.invoke(app, ["predict", str(checkpoint), str(photo(tmp_path / "in.png")), "cat"]))
    low = "0.001" if field == "std" else "-10"
    assert f"{field} must be three numbers from {low} to 10 (pixels are scaled to [0, 1])" in message


def test_a_checkpoint_with_nan_weights_is_refused_on_load(checkpoint, tmp_path):
    with safe_open(str(checkpoint), framework="pt") as f:
        meta = f.metadata()
    weights = load_file(str(checkpoint))
    name = sorted(weights)[0]
    weights[name] = weights[name].clone().fill_(float("nan"))
    save_file(weights, str(checkpoint), metadata=meta)
    message = one_sentence(runner.invoke(app, ["predict", str(checkpoint), str(photo(tmp_path / "in.png")), "cat",
                                               "--out", str(tmp_path / "a.png")]))
    assert "holds NaN or infinite weights" in message and name in message and not (tmp_path / "a.png").exists()


# --- predict

def test_predict_never_overwrites_an_input_and_writes_the_format_asked(checkpoint, tmp_path):
    image = photo(tmp_path / "photo.jpg")
    before = digest(tmp_path)
    for args in (["--out", str(image)], ["--cutout", str(image)], ["--out", str(checkpoint)],
                 ["--out", str(tmp_path / "same.png"), "--cutout", str(tmp_path / "same.png")]):
        message = one_sentence(runner.invoke(app, ["predict", str(checkpoint), str(image), "cat", *args]))
        assert "refusing to overwrite an input" in message or "both name" in message
    assert digest(tmp_path) == before
    message = one_sentence(runner.invoke(app, ["predict", str(checkpoint), str(image), "cat", "--cutout",
                                               str(tmp_path / "c.jpg")]))
    assert "cannot hold" in message and "use .png, .webp or .tif" in message
    r = runner.invoke(app, ["predict", str(checkpoint), str(image), "cat", "--out", str(tmp_path / "alpha.jpg"),
                            "--cutout", str(tmp_path / "cut.webp")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "alpha.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG, as the suffix says
    assert (tmp_path / "cut.webp").read_bytes()[8:12] == b"WEBP"
    assert cv2.imread(str(tmp_path / "cut.webp"), cv2.IMREAD_UNCHANGED).shape == (40, 56, 4)


def test_predict_odd_phrases_and_tiny_images(checkpoint, tmp_path):
    image = photo(tmp_path / "in.png")
    for phrase in ("", "   "):
        assert "the phrase is empty" in one_sentence(runner.invoke(app, ["predict", str(checkpoint), str(image), phrase]))
    long = " ".join(["the small black dog behind the woman in the lace dress"] * 10)
    r = runner.invoke(app, ["predict", str(checkpoint), str(image), long, "--out", str(tmp_path / "a.png")])
    assert r.exit_code == 0 and "tokens long; the model reads 69" in " ".join(r.output.split()), r.output
    one = photo(tmp_path / "one.png", 1, 1)
    r = runner.invoke(app, ["predict", str(checkpoint), str(one), "cat", "--out", str(tmp_path / "o.png"),
                            "--cutout", str(tmp_path / "o_cut.png")])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "o_cut.png"), cv2.IMREAD_UNCHANGED).shape == (1, 1, 4)


def test_predict_refuses_a_bomb_before_decoding(checkpoint, tmp_path):
    bomb = png_bomb(tmp_path / "bomb.png")
    message = one_sentence(runner.invoke(app, ["predict", str(checkpoint), str(bomb), "cat", "--out", str(tmp_path / "a.png")]))
    assert "20000x20000 px is over the pixel cap" in message and not (tmp_path / "a.png").exists()
    hdr = tmp_path / "hdr.jpg"  # a format OpenCV decodes but PIL cannot size: no way around the cap
    cv2.imwrite(str(tmp_path / "x.hdr"), np.ones((40, 40, 3), np.float32))
    (tmp_path / "x.hdr").rename(hdr)
    message = one_sentence(runner.invoke(app, ["predict", str(checkpoint), str(hdr), "cat", "--out", str(tmp_path / "a.png")]))
    assert f"{hdr}: missing or not a readable image (its header:" in message


# --- manifests

def test_manifest_columns_of_the_wrong_type_are_named(demo, checkpoint, tmp_path):
    table = pq.read_table(demo / "manifests/test.parquet")
    cases = {
        "expressions": pa.array([" / ".join(e) for e in table["expressions"].to_pylist()]),
        "keyword_valid": pa.array([str(v) for v in table["keyword_valid"].to_pylist()]),
        "image_path": pa.array(range(len(table))),
    }
    for column, values in cases.items():
        m = tmp_path / f"{column}.parquet"
        pq.write_table(table.set_column(table.schema.get_field_index(column), column, values), m)
        message = one_sentence(runner.invoke(app, ["eval", str(checkpoint), str(m), "--csv", str(tmp_path / "e.csv")]))
        assert f"column {column} is stored as" in message and str(m) in message
    assert not (tmp_path / "e.csv").exists()


def test_results_never_replace_an_input(demo, checkpoint, tmp_path):
    m = tmp_path / "m"
    shutil.copytree(demo / "manifests", m, ignore=shutil.ignore_patterns("cache"))
    matte = sorted((m / "mattes/test").iterdir())[0]
    cases = [(["eval", str(checkpoint), str(m / "test.parquet"), "--csv", str(m / "test.parquet")], "must end in .csv"),
             (["eval", str(checkpoint), str(m / "test.parquet"), "--csv", str(checkpoint)], "must end in .csv"),
             (["score", str(m / "mattes/test"), str(m / "test.parquet"), "--csv", str(matte)], "must end in .csv")]
    before = digest(tmp_path)
    for args, expected in cases:
        message = one_sentence(runner.invoke(app, args))
        assert expected in message
    assert digest(tmp_path) == before


@pytest.mark.parametrize("setting", ["keyword", "expression"])
def test_an_empty_manifest_is_one_sentence_in_either_setting(demo, checkpoint, tmp_path, setting):
    table = pq.read_table(demo / "manifests/test.parquet")
    m = tmp_path / "empty.parquet"
    pq.write_table(table.slice(0, 0), m)
    for args in (["eval", str(checkpoint), str(m)], ["score", str(tmp_path), str(m)]):
        message = one_sentence(runner.invoke(app, [*args, "--setting", setting, "--csv", str(tmp_path / "r.csv")]))
        assert f"no entity of {m} could be scored" in message


def test_nothing_to_score_is_null_in_json_and_a_non_zero_exit(demo, checkpoint, tmp_path):
    table = pq.read_table(demo / "manifests/test.parquet")
    i = table.schema.get_field_index("keyword_valid")
    m = tmp_path / "none.parquet"
    pq.write_table(table.set_column(i, table.schema.field(i), pa.array([False] * len(table))), m)
    for args in (["eval", str(checkpoint), str(m)], ["score", str(tmp_path), str(m)]):
        csv = tmp_path / f"{args[0]}.csv"
        message = one_sentence(runner.invoke(app, [*args, "--csv", str(csv)]))
        assert "could be scored" in message
        summary = json.loads(csv.with_suffix(".json").read_text())  # strict JSON: no bare NaN
        assert summary["entities"] == 0 and summary["sad"] is None and summary["referring_accuracy"] is None


# --- train

def train_args(demo, out, *extra, steps=2, manifest=None):
    return ["train", str(manifest or demo / "manifests/train.parquet"), "--model", "tiny", "--out", str(out),
            "--batch-size", "4", "--max-steps", str(steps), "--workers", "0", "--checkpoint-every", "1", *extra]


def test_training_with_no_readable_sample_fails_and_writes_no_checkpoint(demo, tmp_path):
    m = tmp_path / "m"
    shutil.copytree(demo / "manifests", m, ignore=shutil.ignore_patterns("cache"))
    for image in (m / "images/train").iterdir():
        image.write_bytes(b"not an image")
    message = one_sentence(runner.invoke(app, train_args(demo, tmp_path / "run", "--epochs", "1",
                                                         manifest=m / "train.parquet")))
    assert "nothing was trained and no checkpoint was written" in message
    assert not (tmp_path / "run/final.safetensors").exists() and not list((tmp_path / "run").rglob("*.safetensors"))


def test_a_bomb_among_the_training_images_is_skipped_by_name(demo, tmp_path):
    m = tmp_path / "m"
    shutil.copytree(demo / "manifests", m, ignore=shutil.ignore_patterns("cache"))
    victim = sorted((m / "images/train").iterdir())[0]
    png_bomb(victim)  # still named .jpg: the header says PNG, 20000 x 20000
    r = runner.invoke(app, train_args(demo, tmp_path / "run", "--epochs", "1", manifest=m / "train.parquet", steps=100))
    assert r.exit_code == 0, r.output
    assert f"skipped: image {victim}: 20000x20000 px is over the pixel cap" in " ".join(r.output.split())


def test_resume_falls_back_past_broken_checkpoints(demo, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, train_args(demo, out, steps=3)).exit_code == 0
    ckpts = out / "checkpoints"
    newest, middle, oldest = sorted(ckpts.glob("step-*.json"), reverse=True)
    newest.with_suffix(".safetensors").write_bytes(newest.with_suffix(".safetensors").read_bytes()[:500])  # truncated
    middle.write_text("{garbage")
    r = runner.invoke(app, [*train_args(demo, out, steps=4), "--resume"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert f"checkpoint {newest.name} is unusable" in text and f"checkpoint {middle.name} is unusable" in text
    assert f"resuming from {oldest}" in text
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # the log lost the steps after the checkpoint it resumed from, then went on
    for p in ckpts.glob("step-*.optim.safetensors"):
        p.unlink()
    message = one_sentence(runner.invoke(app, [*train_args(demo, out, steps=6), "--resume"]))
    assert "no checkpoint loads" in message and "optim.safetensors is missing" in message


@pytest.mark.parametrize("change, expected", [(["--lr", "0.5"], "lr 0.0001 -> 0.5"),
                                              (["--model", "ViT-B-16"], "model 'tiny' -> 'ViT-B-16'")])
def test_resume_with_other_model_or_lr_is_refused(demo, tmp_path, change, expected):
    out = tmp_path / "run"
    assert runner.invoke(app, train_args(demo, out)).exit_code == 0
    args = train_args(demo, out, "--resume", steps=4)
    i = args.index(change[0]) if change[0] in args else None
    args = args[:i] + change + args[i + 2:] if i is not None else args + change
    assert expected in one_sentence(runner.invoke(app, args))


def test_training_again_into_a_run_folder_needs_resume(demo, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, train_args(demo, out)).exit_code == 0
    before = digest(out)
    message = one_sentence(runner.invoke(app, train_args(demo, out, "--lr", "0.001")))
    assert f"{out} already holds a training run (final.safetensors, log.jsonl, checkpoints/step-" in message
    assert "continue it with --resume, or train into another --out" in message and digest(out) == before


def test_a_loss_that_is_not_finite_stops_before_the_weights(demo, tmp_path, monkeypatch):
    import torch

    import clipmat.train

    class Diverged(torch.nn.Module):
        def forward(self, **outputs):
            return {"loss": outputs["alpha"].sum() * float("nan")}

    monkeypatch.setattr(clipmat.train, "ClipMatLoss", Diverged)
    out = tmp_path / "run"
    message = one_sentence(runner.invoke(app, train_args(demo, out)))
    assert "the loss is not finite at step 1 (epoch 0, batch 0)" in message and "lower --lr" in message
    assert not list(out.rglob("*.safetensors")) and not (out / "log.jsonl").exists()


def test_two_trainings_never_share_a_run_folder(demo, tmp_path):
    out = tmp_path / "run"
    with exclusive(out):  # another training is running there
        message = one_sentence(runner.invoke(app, train_args(demo, out)))
    assert f"another run is writing to {out}" in message and not (out / "log.jsonl").exists()


def test_a_read_only_run_folder_is_one_sentence(demo, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    message = sentence(cli("clipmat", *train_args(demo, locked / "run"), read_only=locked))
    assert "locked/run" in message and "give a folder you can write to" in message
