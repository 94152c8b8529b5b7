"""Model folders and the Hugging Face Hub (issue 18, part 4): offline, with local folders only."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from clipmat import CheckpointError, load_checkpoint
from clipmat.cli import app
from clipmat.hub import from_pretrained, push_to_hub

runner = CliRunner()


@pytest.fixture(scope="module")
def ckpt(tiny_ckpt):
    return tiny_ckpt


def test_export_writes_a_model_folder_with_a_card_and_it_loads_back(ckpt, demo, tmp_path):
    summary = tmp_path / "eval.csv"
    r = runner.invoke(app, ["eval", str(ckpt), str(demo / "manifests/test.parquet"), "--csv", str(summary),
                            "--metrics", "sad,mse,mad", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    folder = tmp_path / "model"
    r = runner.invoke(app, ["export", str(ckpt), "--format", "hf", "--out", str(folder), "--eval",
                            str(summary.with_suffix(".json"))])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: clipmat" in card and "license: apache-2.0" in card
    assert "train_manifest: " + str(demo / "manifests/train.parquet") in card and "- step: 2" in card
    sad = json.loads(summary.with_suffix(".json").read_text())["sad"]
    assert f"{sad:.4f}" in card  # the evaluation it was given, quoted
    assert json.loads((folder / "config.json").read_text())["family"] == "clipmat"
    model, original = from_pretrained(folder), load_checkpoint(ckpt)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), original.state_dict().values()))
    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), (np.random.default_rng(0).random((50, 70, 3)) * 255).astype(np.uint8))
    r = runner.invoke(app, ["predict", str(folder), str(image), "cat", "--out", str(tmp_path / "a.png"), "--device", "cpu"])
    assert r.exit_code == 0, r.output


def test_a_missing_model_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # offline here: the Hub is never asked
    with pytest.raises(CheckpointError, match="could not get model.safetensors of the Hub repository nobody/none"):
        from_pretrained("nobody/none")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="has no model.safetensors"):
        from_pretrained(tmp_path / "empty")
    r = runner.invoke(app, ["export", str(tmp_path / "none.safetensors"), "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_push_uploads_the_model_folder(ckpt, monkeypatch):
    """The Hub itself is not reachable here: HfApi is replaced by a recorder of what would be uploaded."""
    import huggingface_hub

    sent = {}

    class Recorder:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private, exist_ok):
            sent.update(repo=repo_id, private=private)
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self, repo_id, folder_path, commit_message):
            from pathlib import Path

            sent["files"] = sorted(p.name for p in Path(folder_path).iterdir())

    monkeypatch.setattr(huggingface_hub, "HfApi", Recorder)
    url = push_to_hub(ckpt, "me/tiny", private=True)
    assert url == "https://huggingface.co/me/tiny" and sent == {"repo": "me/tiny", "private": True,
                                                              "files": ["README.md", "config.json", "model.safetensors"]}
