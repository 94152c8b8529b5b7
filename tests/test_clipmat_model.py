"""CLIPMat model library: configs, forward/backward, collaboration, losses, checkpoints, weights."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from clipmat import (CheckpointError, ClipMatLoss, ConfigError, LossWeights, WeightsError, build_model, collaborate,
                     create_clip, get_config, keyword_prompt, list_models, load_checkpoint, save_checkpoint, tokenize)
from clipmat.cli import app
from clipmat.losses import alpha_loss, composition_loss, laplacian_loss
from clipmat.model.prompt import TEMPLATES


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model("tiny")


def _batch(b=2, size=64, setting="keyword"):
    g = torch.Generator().manual_seed(1)
    image = torch.rand(b, 3, size, size, generator=g)
    words = ["cat", "the dog on the left of the red umbrella"][:b] * (b // 2 + 1)
    tokens = tokenize(words[:b], 14 if setting == "keyword" else 69)
    return image, tokens


def test_registry_lists_the_paper_backbones_and_a_tiny_one():
    assert {"ViT-B-16", "ViT-L-14", "tiny"} <= set(list_models())
    b16 = get_config("ViT-B-16")
    assert (b16.clip_model, b16.image_size, b16.detail_blocks) == ("ViT-B-16", 512, (2, 5, 8, 11))
    assert b16.keyword_length + b16.context_tokens == 22 and b16.expression_length + b16.context_tokens == 77


@pytest.mark.parametrize("name", list_models())
def test_every_registered_config_builds_and_runs(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    c = model.config
    assert model.image_encoder.grid == (c.image_size // model.image_encoder.patch,) * 2
    side = 4 * model.image_encoder.patch  # small input: positional embeddings are interpolated
    with torch.no_grad():
        out = model(torch.rand(1, 3, side, side), tokenize(["cat"], c.keyword_length))
    assert out["trimap_logits"].shape == (1, 3, side, side) and out["alpha"].shape == (1, 1, side, side)


def test_tiny_forward_shapes_ranges_and_any_input_size(tiny):
    image, tokens = _batch()
    out = tiny.eval()(image, tokens)
    assert set(out) == {"trimap_logits", "details", "alpha"}
    assert out["trimap_logits"].shape == (2, 3, 64, 64)
    for key in ("details", "alpha"):
        assert out[key].shape == (2, 1, 64, 64) and 0 <= out[key].min() and out[key].max() <= 1
    odd = tiny(torch.rand(1, 3, 80, 112), tokenize(["cat"], 69))  # expression length, non-square
    assert odd["alpha"].shape == (1, 1, 80, 112)


def test_tiny_backward_reaches_every_module(tiny):
    tiny.train().zero_grad()
    image, tokens = _batch()
    target = (torch.rand(2, 1, 64, 64) > 0.5).float()
    trimap = torch.randint(0, 3, (2, 64, 64))
    losses = ClipMatLoss()(**tiny(image, tokens), target_alpha=target, target_trimap=trimap)
    losses["loss"].backward()
    for module in ("context", "tsp", "semantic", "mde", "details", "image_encoder", "text_encoder"):
        grads = [p.grad for p in getattr(tiny, module).parameters()]
        assert all(g is not None for g in grads), module
        assert sum(float(g.abs().sum()) for g in grads) > 0, module


def test_context_tokens_read_the_text_but_the_text_does_not_read_them(tiny):
    tokens = tokenize(["the foreground of cat"], 14)
    ctx = tiny.context()
    a, pad = tiny.text_encoder(tokens, ctx)
    b, _ = tiny.text_encoder(tokens, ctx + 1.0)
    assert a.shape == (1, 22, tiny.text_encoder.width)
    assert torch.allclose(a[:, :14], b[:, :14]) and not torch.allclose(a[:, 14:], b[:, 14:])
    assert pad[0].tolist() == [False] * 6 + [True] * 8 + [False] * 8  # SOT, 4 words, EOT, pads, context
    with pytest.raises(ValueError, match="exceeds the text encoder's 77 positions"):
        tiny.text_encoder(tokenize(["x"], 70), ctx)


def test_keyword_prompts_are_fixed_at_evaluation_and_seeded_in_training():
    assert keyword_prompt("cat") == "the foreground of cat"
    draws = [keyword_prompt("cat", np.random.default_rng(s)) for s in range(40)]
    assert draws == [keyword_prompt("cat", np.random.default_rng(s)) for s in range(40)]
    assert len(set(draws)) > 5 and set(draws) <= {t.format("cat") for t in TEMPLATES}
    long = tokenize(["word " * 40], 14)
    assert long.shape == (1, 14) and long[0, -1] == 49407  # cut, still ends with the end token


def test_collaboration_rule_on_hand_made_inputs():
    # trimap classes per pixel: bg, transition, fg, transition
    logits = torch.tensor([[5.0, 0, 0], [0, 5, 0], [0, 0, 5], [1, 2, 0]]).T.reshape(1, 3, 1, 4)
    details = torch.tensor([0.3, 0.4, 0.2, 0.9]).reshape(1, 1, 1, 4)
    assert collaborate(logits, details).flatten().tolist() == pytest.approx([0.0, 0.4, 1.0, 0.9])
    logits.requires_grad_(True)
    details.requires_grad_(True)
    collaborate(logits, details).sum().backward()
    assert logits.grad is None and details.grad.flatten().tolist() == [0, 1, 0, 1]


def test_alpha_loss_values():
    p = torch.tensor([0.0, 0.5, 1.0, 1.0]).reshape(1, 1, 2, 2)
    a = torch.tensor([0.0, 0.0, 0.5, 1.0]).reshape(1, 1, 2, 2)
    assert alpha_loss(a, a) == pytest.approx(0, abs=1e-5)
    assert alpha_loss(p, a) == pytest.approx(0.25, abs=1e-5)  # (0 + .5 + .5 + 0) / 4
    mask = torch.tensor([0.0, 1, 1, 0]).reshape(1, 1, 2, 2)
    assert alpha_loss(p, a, mask) == pytest.approx(1.0 / 3, abs=1e-5)  # (.5 + .5) / (2 + 1)


def test_laplacian_loss_values():
    flat = torch.full((1, 1, 32, 32), 0.25)
    assert laplacian_loss(flat, flat) == 0
    assert laplacian_loss(flat, flat + 0.5) == pytest.approx(0.5, abs=1e-6)  # only the low-pass rest differs
    # A +-d checkerboard keeps its shape under the reflect-padded blur, scaled by r^2:
    # band 0 holds (1 - r^2) d, the rest r^2 d, and the level means add up to d.
    checker = ((torch.arange(32)[:, None] + torch.arange(32)) % 2 * 2 - 1).float().reshape(1, 1, 32, 32)
    assert laplacian_loss(0.5 + 0.1 * checker, torch.full_like(checker, 0.5)) == pytest.approx(0.1, abs=1e-6)
    assert laplacian_loss(0.5 + 0.1 * checker, torch.full_like(checker, 0.5), torch.zeros_like(checker)) == 0


def test_composition_loss_value():
    fg, bg = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    alpha = torch.full((1, 1, 2, 2), 0.5)
    assert composition_loss(alpha, fg, bg, torch.full((1, 3, 2, 2), 0.5)) == pytest.approx(0, abs=1e-5)
    assert composition_loss(alpha, fg, bg, torch.full((1, 3, 2, 2), 0.75)) == pytest.approx(0.25, abs=1e-5)


def test_full_loss_names_its_terms_and_weights_them():
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 1
    trimap = torch.zeros(1, 8, 8, dtype=torch.long)
    logits = torch.zeros(1, 3, 8, 8)  # uniform over 3 classes: cross-entropy ln 3
    out = ClipMatLoss()(logits, target, target, target_alpha=target, target_trimap=trimap)
    assert set(out) == {"loss", "semantic", "details_alpha", "details_laplacian", "fused_alpha", "fused_laplacian"}
    assert out["semantic"] == pytest.approx(math.log(3), abs=1e-6)
    assert out["loss"] == pytest.approx(0.25 * math.log(3), abs=1e-5)
    image = torch.rand(1, 3, 8, 8)
    out = ClipMatLoss(LossWeights(semantic=0, composition=2))(
        logits, target, target, target_alpha=target, target_trimap=trimap, image=image, fg=image, bg=image)
    assert out["composition"] == pytest.approx(0, abs=1e-5) and out["loss"] == pytest.approx(0, abs=1e-4)


def test_checkpoint_round_trip_reproduces_outputs(tiny, tmp_path):
    image, tokens = _batch()
    tiny.eval()
    expected = tiny(image, tokens)
    path = save_checkpoint(tiny, tmp_path / "tiny.safetensors", {"step": "7"})
    assert not list(tmp_path.glob(".*.tmp"))
    loaded = load_checkpoint(path).eval()
    got = loaded(image, tokens)
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    pt = tmp_path / "tiny.pt"
    torch.save({"config": tiny.config.to_dict(), "state_dict": tiny.state_dict()}, pt)
    assert torch.equal(load_checkpoint(pt).eval()(image, tokens)["alpha"], expected["alpha"])


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint .*nothing.safetensors does not exist"):
        load_checkpoint(tmp_path / "nothing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad.safetensors is not a safetensors file"):
        load_checkpoint(bad)


def test_clip_weights_file_loads_with_positional_embeddings_resized(tmp_path):
    import open_clip

    torch.manual_seed(3)
    small = create_clip(get_config("tiny").__class__(**{**get_config("tiny").to_dict(), "image_size": 32}))
    path = tmp_path / "tiny-clip-32px.pt"
    torch.save(small.state_dict(), path)
    model = build_model("tiny", clip_weights=str(path))
    assert model.image_encoder.positional_embedding.shape == (1 + 4 * 4, 32)  # 2x2 grid resized to 4x4
    assert torch.equal(model.text_encoder.token_embedding.weight, small.token_embedding.weight)
    assert isinstance(small, open_clip.CLIP)


def test_weights_messages_are_one_sentence(tmp_path):
    with pytest.raises(WeightsError, match=r"CLIP weights file .*missing.pt does not exist: pass a local"):
        build_model("tiny", clip_weights=str(tmp_path / "missing.pt"))
    with pytest.raises(WeightsError, match=r"'nonsense' is neither a file nor an open_clip weights tag for ViT-B-16 "
                                          r"\(tags: openai, "):
        create_clip(get_config("ViT-B-16"), "nonsense")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"junk")
    with pytest.raises(WeightsError, match=r"junk.safetensors does not load into clipmat-tiny-clip"):
        build_model("tiny", clip_weights=str(junk))


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown model 'ViT-X'"):
        get_config("ViT-X")
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"clip_model": "ViT-B-16", "tsp_width": 3}))
    with pytest.raises(ConfigError, match=r"mine.json: unknown field\(s\) tsp_width"):
        get_config(path)
    path.write_text(json.dumps({"clip_model": "ViT-B-16", "details_channels": [8, 8]}))
    with pytest.raises(ConfigError, match="needs one width per detail block"):
        get_config(path)


def test_list_models_command():
    r = CliRunner().invoke(app, ["list-models"])
    assert r.exit_code == 0, r.output
    for name in list_models():
        assert name in r.output
    assert "14 keyword / 69 expression" in r.output
