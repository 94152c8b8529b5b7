"""Table 2's other rows: the matting refiner, CLIPSeg and the zero-training cascade (issue 17).

Every model is tiny and random: built from a registered tiny config, or loaded from a local
folder as an offline user's copy of the real weights would be (tests/hf_tiny.py). No test downloads.
"""

from __future__ import annotations

import json
import socket

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests import hf_tiny
from clipmat import CheckpointError, load_checkpoint, save_checkpoint
from clipmat.build import build_model
from clipmat.cli import app
from clipmat.refiner import degrade
from clipmat.train import TrainOptions, train

pytest.importorskip("transformers")
runner = CliRunner()


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")
    monkeypatch.setattr(socket.socket, "connect", no_network)


def _opts(demo, out, **kw):
    return TrainOptions(**{**dict(manifest=str(demo / "manifests/train.parquet"), out=str(out), batch_size=2, epochs=100,
                                  max_steps=2, workers=0, checkpoint_every=2, seed=1), **kw})


@pytest.fixture(scope="module")
def clipmat_ckpt(demo, tmp_path_factory):
    return train(_opts(demo, tmp_path_factory.mktemp("clipmat"), model="tiny"), log=lambda s: None)


@pytest.fixture(scope="module")
def refiner_ckpt(demo, tmp_path_factory, clipmat_ckpt):
    """The tiny refiner, trained 2 steps with half of its coarse inputs from the tiny CLIPMat's predictions."""
    out = tmp_path_factory.mktemp("refiner")
    return train(_opts(demo, out, model="refiner-tiny", coarse_from=str(clipmat_ckpt)), log=lambda s: None)


@pytest.fixture(scope="module")
def odd_image(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "odd.png"
    rng = np.random.default_rng(0)
    image = (rng.random((77, 101, 3)) * 255).astype(np.uint8)
    cv2.circle(image, (50, 38), 20, (0, 0, 255), -1)
    cv2.imwrite(str(path), image)
    return path


def _predict(model, image, out, *extra):
    return runner.invoke(app, ["predict", str(model), str(image), "cat", "--out", str(out), "--device", "cpu", *extra])


# --- the refiner

def test_degrade_is_coarse_and_deterministic():
    alpha = np.zeros((64, 80), np.float32)
    cv2.circle(alpha, (40, 32), 18, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)
    a = degrade(alpha, np.random.default_rng(5))
    assert np.array_equal(a, degrade(alpha, np.random.default_rng(5))) and a.dtype == np.float32
    assert a.shape == alpha.shape and 0 <= a.min() and a.max() <= 1
    assert 0.001 < np.abs(a - alpha).mean() < 0.5  # changed, and still about the same object
    assert not np.array_equal(a, degrade(alpha, np.random.default_rng(6)))


def test_refiner_trains_round_trips_and_refines_a_prediction(demo, refiner_ckpt, clipmat_ckpt, odd_image, tmp_path):
    records = [json.loads(x) for x in (refiner_ckpt.parent / "log.jsonl").read_text().splitlines()]
    assert len(records) == 2 and {"semantic", "details_alpha", "fused_alpha"} <= set(records[0])
    model = load_checkpoint(refiner_ckpt)
    assert model.config.family == "refiner" and model.config.backbone == "resnet18"
    again = tmp_path / "again.safetensors"
    save_checkpoint(model, again)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), load_checkpoint(again).state_dict().values()))
    out = tmp_path / "alpha.png"
    r = _predict(clipmat_ckpt, odd_image, out, "--refiner", str(refiner_ckpt))
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(out), cv2.IMREAD_GRAYSCALE).shape == (77, 101)
    csv = tmp_path / "eval.csv"
    r = runner.invoke(app, ["eval", str(clipmat_ckpt), str(demo / "manifests/test.parquet"), "--refiner",
                            str(refiner_ckpt), "--csv", str(csv), "--metrics", "sad,mse", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    summary = json.loads(csv.with_suffix(".json").read_text())
    assert summary["entities"] > 0 and summary["sad"] >= 0 and "refiner" in r.output


def test_refiner_is_refused_where_it_does_not_fit(demo, refiner_ckpt, clipmat_ckpt, odd_image, tmp_path):
    r = _predict(refiner_ckpt, odd_image, tmp_path / "a.png")
    assert r.exit_code != 0 and "is a refiner" in r.output and not (tmp_path / "a.png").exists()
    r = _predict(clipmat_ckpt, odd_image, tmp_path / "a.png", "--refiner", str(clipmat_ckpt))
    assert r.exit_code != 0 and "not a refiner" in r.output
    r = runner.invoke(app, ["train", str(demo / "manifests/train.parquet"), "--model", "refiner-tiny", "--ablate", "tsp",
                            "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "apply to CLIPMat only" in r.output
    r = runner.invoke(app, ["train", str(demo / "manifests/train.parquet"), "--model", "tiny", "--coarse-from",
                            str(clipmat_ckpt), "--out", str(tmp_path / "y")])
    assert r.exit_code != 0 and "feeds a refiner" in r.output


def test_backbone_weights_file_loads_and_a_wrong_one_is_named(tmp_path):
    import torchvision

    state = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(state, tmp_path / "r18.pth")
    model = build_model("refiner-tiny", str(tmp_path / "r18.pth"))
    assert torch.equal(model.encoder[4][0].conv1.weight, state["layer4.0.conv1.weight"])
    assert torch.equal(model.encoder[0][0].weight[:, :3], state["conv1.weight"])
    assert not model.encoder[0][0].weight[:, 3].any()  # the coarse-alpha channel starts at zero
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), tmp_path / "r34.pth")
    with pytest.raises(Exception, match="do not fit torchvision's resnet18"):
        build_model("refiner-tiny", str(tmp_path / "r34.pth"))
    with pytest.raises(Exception, match="does not exist"):
        build_model("refiner-tiny", str(tmp_path / "none.pth"))


# --- CLIPSeg

def test_clipseg_trains_from_a_local_folder_and_is_scored(demo, tmp_path, odd_image):
    folder = hf_tiny.clipseg(tmp_path / "clipseg-folder")
    final = train(_opts(demo, tmp_path / "run", model="clipseg-tiny", clip_weights=str(folder)), log=lambda s: None)
    records = [json.loads(x) for x in (tmp_path / "run/log.jsonl").read_text().splitlines()]
    assert len(records) == 2 and "fused_alpha" in records[0] and "semantic" not in records[0]
    model = load_checkpoint(final)
    assert model.config.family == "clipseg" and model.config.pretrained == ""
    assert not any(p.requires_grad for p in model.net.clip.parameters())  # CLIPSeg's recipe: CLIP frozen
    start = build_model("clipseg-tiny", str(folder))
    clip_key = next(k for k in start.state_dict() if k.startswith("net.clip."))
    assert torch.equal(start.state_dict()[clip_key], model.state_dict()[clip_key])  # frozen: as loaded
    out = tmp_path / "alpha.png"
    r = _predict(final, odd_image, out)
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(out), cv2.IMREAD_GRAYSCALE).shape == (77, 101)
    csv = tmp_path / "eval.csv"
    r = runner.invoke(app, ["eval", str(final), str(demo / "manifests/test.parquet"), "--csv", str(csv),
                            "--metrics", "sad,mad", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert json.loads(csv.with_suffix(".json").read_text())["entities"] > 0


def test_clipseg_checkpoint_architecture_is_checked_before_building(tmp_path):
    from safetensors.torch import load_file, save_file

    path = save_checkpoint(build_model("clipseg-tiny"), tmp_path / "c.safetensors")
    from clipmat.checkpoint import read_metadata

    meta = read_metadata(path)
    config = json.loads(meta["config"])
    config["hf_config"]["vision_config"]["hidden_size"] = 4000  # 4000^2 x layers: far more than the file holds
    save_file(load_file(str(path)), str(tmp_path / "big.safetensors"), metadata={**meta, "config": json.dumps(config)})
    with pytest.raises(CheckpointError, match="do not belong together"):
        load_checkpoint(tmp_path / "big.safetensors")
    config["hf_config"]["vision_config"]["hidden_size"] = 10**7
    save_file(load_file(str(path)), str(tmp_path / "huge.safetensors"), metadata={**meta, "config": json.dumps(config)})
    with pytest.raises(CheckpointError, match="hidden_size"):
        load_checkpoint(tmp_path / "huge.safetensors")
    config["hf_config"]["vision_config"].update(hidden_size=256, image_size=4096, patch_size=1)  # 16.7 M positions
    save_file(load_file(str(path)), str(tmp_path / "wide.safetensors"), metadata={**meta, "config": json.dumps(config)})
    with pytest.raises(CheckpointError, match="do not belong together"):
        load_checkpoint(tmp_path / "wide.safetensors")
    config = json.loads(meta["config"])
    config["hf_config"]["attn_implementation"] = "kernels-community/flash-attn2"  # would fetch code from the hub
    save_file(load_file(str(path)), str(tmp_path / "kernel.safetensors"), metadata={**meta, "config": json.dumps(config)})
    with pytest.raises(CheckpointError, match="attn_implementation"):
        load_checkpoint(tmp_path / "kernel.safetensors")
    config = json.loads(meta["config"])
    config["pretrained"] = "CIDAS/clipseg-rd64-refined"  # a name in a checkpoint never starts a download
    save_file(load_file(str(path)), str(tmp_path / "named.safetensors"), metadata={**meta, "config": json.dumps(config)})
    assert load_checkpoint(tmp_path / "named.safetensors").config.family == "clipseg"


def test_missing_clipseg_weights_are_one_sentence(demo, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(Exception, match="has no config.json"):
        build_model("clipseg-tiny", str(tmp_path / "empty"))
    r = runner.invoke(app, ["train", str(demo / "manifests/train.parquet"), "--model", "clipseg-tiny", "--out",
                            str(tmp_path / "x")])
    assert r.exit_code != 0 and "train a decoder on random features" in r.output


# --- the cascade

@pytest.fixture(scope="module")
def cascade(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cascade")
    return hf_tiny.cascade_config(folder, box_threshold=0.4)  # tiny detector: every box scores 0.5


def test_cascade_predicts_an_odd_sized_image_without_training(cascade, odd_image, tmp_path):
    out, cut = tmp_path / "alpha.png", tmp_path / "cut.png"
    r = _predict(cascade, odd_image, out, "--cutout", str(cut))
    assert r.exit_code == 0, r.output
    alpha = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert alpha.shape == (77, 101) and cv2.imread(str(cut), cv2.IMREAD_UNCHANGED).shape == (77, 101, 4)
    r = _predict(cascade, odd_image, out, "--long-side", "48")  # the chain runs small, the matte comes back whole
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(out), cv2.IMREAD_GRAYSCALE).shape == (77, 101)


def test_cascade_says_when_nothing_matches(cascade, odd_image, demo, tmp_path):
    strict = tmp_path / "strict.json"
    strict.write_text(json.dumps({**json.loads(cascade.read_text()), "box_threshold": 0.6}))
    out = tmp_path / "alpha.png"
    r = _predict(strict, odd_image, out)
    assert r.exit_code != 0 and "nothing in the image matches 'cat'" in r.output and "0.50" in r.output
    assert not out.exists()
    csv = tmp_path / "eval.csv"
    r = runner.invoke(app, ["eval", str(strict), str(demo / "manifests/test.parquet"), "--csv", str(csv),
                            "--metrics", "sad", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    summary = json.loads(csv.with_suffix(".json").read_text())
    assert "matched nothing" in r.output and summary["entities"] > 0  # scored as empty mattes, not skipped


def test_cascade_and_untrained_names_are_refused_where_they_do_not_fit(cascade, demo, odd_image, tmp_path):
    r = runner.invoke(app, ["train", str(demo / "manifests/train.parquet"), "--model", str(cascade), "--out",
                            str(tmp_path / "x")])
    assert r.exit_code != 0 and "nothing to train" in r.output
    r = _predict("tiny", odd_image, tmp_path / "a.png")
    assert r.exit_code != 0 and "not trained weights" in r.output
    r = _predict(tmp_path / "nowhere", odd_image, tmp_path / "a.png")
    assert r.exit_code != 0 and "unknown model" in r.output


def test_list_models_names_every_family():
    r = runner.invoke(app, ["list-models"])
    assert r.exit_code == 0, r.output
    for name in ("ViT-B-16", "ViT-L-14", "tiny", "refiner", "clipseg-rd64", "grounded-vitmatte"):
        assert name in r.output
    for family in ("clipmat", "refiner", "clipseg", "cascade"):
        assert family in r.output


def test_table2_prints_every_method_with_the_baselines(demo, clipmat_ckpt, refiner_ckpt, cascade, monkeypatch, capsys,
                                                       tmp_path):
    from tools import table2

    monkeypatch.setattr("sys.argv", ["table2.py", str(demo / "manifests/test.parquet"), str(clipmat_ckpt),
                                     f"{clipmat_ckpt}+{refiner_ckpt}", str(cascade), "--setting", "keyword",
                                     "--csv", str(tmp_path / "t2.csv")])
    table2.main()
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if x.startswith("| ")]
    assert len(lines) == 1 + 5  # header, CLIPMat, CLIPMat + refiner, cascade, union, empty
    assert "| CLIPMat (final.safetensors) | clipmat-tiny-clip | yes |" in out
    assert "Grounding DINO + SAM + ViTMatte" in out and "union of all entities" in out and "empty matte" in out
    import pandas as pd

    table = pd.read_csv(tmp_path / "t2.csv")
    assert len(table) == 5 and (table["keyword entities"] > 0).all()
