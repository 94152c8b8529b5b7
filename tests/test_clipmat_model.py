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


@pytest.mark.parametrize("name", [n for n in list_models() if get_config(n).family == "clipmat"])
def test_every_registered_config_builds_and_runs(name):
    torch.manual_seed(0)
    model = build_model(name).eval()
    c = model.config
    assert model.image_encoder.grid == (-(-c.image_size // model.image_encoder.patch),) * 2  # whole patches, rounded up
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
    odd = tiny(torch.rand(1, 3, 80, 100), tokenize(["cat"], 69))  # not whole patches: padded, then cropped
    assert odd["alpha"].shape == (1, 1, 80, 100)
    with pytest.raises(ValueError, match="2 images but 1 texts"):
        tiny(image, tokens[:1])
    with pytest.raises(ValueError, match="smaller than one 8 px patch"):
        tiny(torch.rand(1, 3, 4, 64), tokens[:1])


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
    bang = tokenize(["wow!!"], 14)  # may hold BPE id 0; only tokens after the end token are padding
    _, pad = tiny.text_encoder(bang, ctx)
    assert pad[0, : int((bang[0] == 49407).nonzero()) + 1].any().item() is False
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


def _reference_laplacian(p: np.ndarray, a: np.ndarray, kernel: np.ndarray, levels: int = 5) -> float:
    """The same pyramid written with OpenCV: ``kernel``, replicate border, 2x2 mean."""
    import cv2

    total = 0.0
    for _ in range(levels):
        bp = cv2.filter2D(p, -1, kernel, borderType=cv2.BORDER_REPLICATE)
        ba = cv2.filter2D(a, -1, kernel, borderType=cv2.BORDER_REPLICATE)
        total += np.abs((p - bp) - (a - ba)).mean()
        p, a = cv2.resize(bp, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA), \
            cv2.resize(ba, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    return total + np.abs(p - a).mean()


def _gfm_kernel() -> np.ndarray:
    """GFM's build_gauss_kernel(size=5, sigma=1), written from its definition: per axis a squared
    Gaussian, the two summed (not multiplied), normalised."""
    grid = np.float32(np.mgrid[0:5, 0:5].T)
    kernel = np.sum(np.exp((grid - 2) ** 2 / -2.0) ** 2, axis=2)
    return (kernel / kernel.sum()).astype(np.float32)


def test_laplacian_loss_values():
    flat = torch.full((1, 1, 32, 32), 0.25)
    assert laplacian_loss(flat, flat) == 0
    assert laplacian_loss(flat, flat + 0.5) == pytest.approx(0.5, abs=1e-5)  # only the low-pass rest differs
    rng = np.random.default_rng(0)
    p, a = rng.random((64, 64), dtype=np.float32), rng.random((64, 64), dtype=np.float32)
    tp, ta = torch.from_numpy(p)[None, None], torch.from_numpy(a)[None, None]
    k = _gfm_kernel()
    assert k[2, 2] == pytest.approx(0.113, abs=1e-3) and k[0, 2] == pytest.approx(0.0575, abs=1e-3)
    assert laplacian_loss(tp, ta) == pytest.approx(_reference_laplacian(p, a, k), abs=1e-5)  # GFM's, the default
    import cv2

    g = cv2.getGaussianKernel(5, 1).astype(np.float32)
    separable = laplacian_loss(tp, ta, kernel="separable")
    assert separable == pytest.approx(_reference_laplacian(p, a, g @ g.T), abs=1e-5)
    assert separable != pytest.approx(laplacian_loss(tp, ta), rel=1e-3)
    zero = torch.zeros(1, 1, 64, 64)
    assert laplacian_loss(tp, ta, zero) == 0


def test_composition_loss_value():
    fg, bg = torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    alpha = torch.full((1, 1, 2, 2), 0.5)
    assert composition_loss(alpha, fg, bg, torch.full((1, 3, 2, 2), 0.5)) == pytest.approx(0, abs=1e-5)
    # 0.25 off in each of 3 channels, summed per pixel as GFM does
    assert composition_loss(alpha, fg, bg, torch.full((1, 3, 2, 2), 0.75)) == pytest.approx(0.75, abs=1e-5)


def test_full_loss_on_a_hand_made_case():
    target = torch.zeros(1, 1, 4, 4)
    target[0, 0, 0, 0], target[0, 0, 0, 1] = 0.5, 1.0
    trimap = torch.zeros(1, 4, 4, dtype=torch.long)
    trimap[0, 0, :2] = 1  # two transition pixels
    logits = torch.zeros(1, 3, 4, 4)  # uniform: cross-entropy ln 3; argmax picks class 0, so fused = 0
    details = torch.full((1, 1, 4, 4), 0.75)
    out = ClipMatLoss()(logits, details, collaborate(logits, details), target_alpha=target, target_trimap=trimap)
    assert set(out) == {"loss", "semantic", "details_alpha", "details_laplacian", "fused_alpha", "fused_laplacian"}
    assert out["semantic"] == pytest.approx(math.log(3), abs=1e-6)
    assert out["details_alpha"] == pytest.approx((0.25 + 0.25) / (2 + 1), abs=1e-5)  # inside transition / (n + 1)
    assert out["fused_alpha"] == pytest.approx(1.5 / 16, abs=1e-5)
    mask = (trimap == 1).float()[:, None]
    assert out["details_laplacian"] == pytest.approx(float(laplacian_loss(details, target, mask)), abs=1e-6)
    expected = 0.25 * (math.log(3) + 1 / 6 + out["details_laplacian"] + 1.5 / 16 + out["fused_laplacian"])
    assert out["loss"] == pytest.approx(float(expected), abs=1e-5)
    image = torch.rand(1, 3, 4, 4)
    out = ClipMatLoss(LossWeights(semantic=0, details=0, fused=0, composition=2))(
        logits, target, target, target_alpha=target, target_trimap=trimap, image=image, fg=image, bg=image)
    assert out["composition"] == pytest.approx(0, abs=1e-4) and out["loss"] == pytest.approx(0, abs=1e-4)


def test_bf16_autocast_forward_and_backward(tiny):
    tiny.train().zero_grad()
    image, tokens = _batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = tiny(image, tokens)
    losses = ClipMatLoss()(**out, target_alpha=torch.rand(2, 1, 64, 64), target_trimap=torch.randint(0, 3, (2, 64, 64)))
    assert losses["loss"].dtype == torch.float32 and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    assert all(p.grad is not None for p in tiny.parameters())  # DDP needs no unused parameters


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_collaboration_on_gpu_matches_cpu():
    logits, details = torch.randn(2, 3, 8, 8), torch.rand(2, 1, 8, 8)
    assert torch.equal(collaborate(logits.cuda(), details.cuda()).cpu(), collaborate(logits, details))


def test_checkpoint_round_trip_reproduces_outputs(tiny, tmp_path):
    image, tokens = _batch()
    tiny.eval()
    expected = tiny(image, tokens)
    path = save_checkpoint(tiny, tmp_path / "tiny.safetensors", {"step": "7"})
    assert not list(tmp_path.glob(".*.tmp"))
    assert load_checkpoint(path).config.quick_gelu is False
    loaded = load_checkpoint(path).eval()
    got = loaded(image, tokens)
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    pt = tmp_path / "tiny.pt"
    torch.save({"config": tiny.config.to_dict(), "state_dict": tiny.state_dict()}, pt)
    assert torch.equal(load_checkpoint(pt).eval()(image, tokens)["alpha"], expected["alpha"])


def test_quick_gelu_survives_a_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build_model("tiny", quick_gelu=True).eval()
    image, tokens = _batch()
    path = save_checkpoint(model, tmp_path / "quick.safetensors")
    loaded = load_checkpoint(path).eval()
    assert loaded.config.quick_gelu and torch.equal(model(image, tokens)["details"], loaded(image, tokens)["details"])


def test_openai_tag_asks_open_clip_for_quick_gelu(monkeypatch):
    import open_clip

    seen, real_create = {}, open_clip.create_model

    def fake_create(name, pretrained=None, **kw):  # no download: record the call, build the tiny backbone
        seen.update(kw, pretrained=pretrained)
        return real_create("clipmat-tiny-clip", force_image_size=64, force_quick_gelu=kw["force_quick_gelu"])

    monkeypatch.setattr(open_clip, "create_model", fake_create)
    config = get_config("tiny").__class__(**{**get_config("tiny").to_dict(), "clip_model": "ViT-B-16",
                                             "detail_blocks": (2, 5, 8, 11)})
    from clipmat.build import resolve_weights

    resolved = resolve_weights(config, "openai")
    assert resolved.quick_gelu is True
    create_clip(resolved, "openai")
    assert seen == {"force_image_size": 64, "force_quick_gelu": True, "pretrained": "openai"}


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"checkpoint .*nothing.safetensors does not exist"):
        load_checkpoint(tmp_path / "nothing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad.safetensors is not a safetensors file"):
        load_checkpoint(bad)
    bad_pt = tmp_path / "bad.pt"
    bad_pt.write_bytes(b"\x80\x02junk")
    with pytest.raises(CheckpointError, match=r"bad.pt does not load as a weights-only torch file"):
        load_checkpoint(bad_pt)
    with pytest.raises(CheckpointError, match=r"clipmat writes .safetensors files; name it x.safetensors"):
        save_checkpoint(build_model("tiny"), tmp_path / "x.pt")
    other = build_model(get_config("tiny").__class__(**{**get_config("tiny").to_dict(), "tsp_dim": 16}))
    path = save_checkpoint(other, tmp_path / "other.safetensors")
    from safetensors.torch import load_file, safe_open, save_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    meta["config"] = json.dumps(get_config("tiny").to_dict())  # weights of tsp_dim 16 under a tsp_dim 32 config
    save_file(load_file(str(path)), str(path), metadata=meta)
    with pytest.raises(CheckpointError, match=r"other.safetensors does not match model tiny"):
        load_checkpoint(path)


def test_clip_weights_file_loads_with_positional_embeddings_resized(tmp_path):
    import open_clip

    torch.manual_seed(3)
    small = create_clip(get_config("tiny").__class__(**{**get_config("tiny").to_dict(), "image_size": 32}))
    path = tmp_path / "tiny-clip-32px.pt"
    torch.save(small.state_dict(), path)
    model = build_model("tiny", clip_weights=str(path))
    assert model.image_encoder.positional_embedding.shape == (1 + 8 * 8, 32)  # 4x4 grid resized to 8x8
    state = {k: v.clone() for k, v in small.state_dict().items()}
    open_clip.model.resize_pos_embed(state, create_clip(get_config("tiny")))
    assert torch.equal(model.image_encoder.positional_embedding, state["visual.positional_embedding"])
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
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="should hold a JSON object"):
        get_config(path)
    path.write_text(json.dumps({"clip_model": "RN50"}))
    with pytest.raises(ConfigError, match="RN50 is not a ViT CLIP"):
        build_model(path)
    path.write_text(json.dumps({"clip_model": "clipmat-tiny-clip", "detail_blocks": [0, 1, 2, 9],
                                "details_channels": [8, 8, 8, 8]}))
    with pytest.raises(ConfigError, match="detail block 9 does not exist, clipmat-tiny-clip has 4 blocks"):
        build_model(path)


def test_list_models_command():
    r = CliRunner().invoke(app, ["list-models"])
    assert r.exit_code == 0, r.output
    for name in list_models():
        assert name in r.output
    assert "torchvision" in r.output and "no training" in r.output  # the refiner's backbone, what the cascade needs


def test_checkpoint_carries_its_clip_architecture(tmp_path):
    """A checkpoint still loads after clipmat's own architecture file of that name was edited."""
    import open_clip
    from safetensors.torch import load_file, safe_open, save_file

    arch = json.loads((__import__("clipmat").config.CLIP_CONFIG_DIR / "clipmat-tiny-clip.json").read_text())
    arch["vision_cfg"]["patch_size"] = 16  # the architecture as it was before an edit
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch/clipmat-test-p16.json").write_text(json.dumps(arch))
    open_clip.add_model_config(tmp_path / "arch")
    config = get_config("tiny").__class__(**{**get_config("tiny").to_dict(), "clip_model": "clipmat-test-p16"})
    torch.manual_seed(0)
    model = build_model(config).eval()
    path = save_checkpoint(model, tmp_path / "old.safetensors")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    meta["config"] = json.dumps({**json.loads(meta["config"]), "clip_model": "clipmat-tiny-clip"})  # now patch 8
    save_file(load_file(str(path)), str(path), metadata=meta)
    loaded = load_checkpoint(path).eval()
    assert loaded.config.clip_model.startswith("clipmat-saved-") and loaded.image_encoder.patch == 16
    image, tokens = _batch()
    assert torch.equal(model(image, tokens)["alpha"], loaded(image, tokens)["alpha"])


def _activations(model) -> set[str]:
    towers = [*model.image_encoder.transformer.modules(), *model.text_encoder.modules()]  # CLIP's, not our decoders'
    return {type(m).__name__ for m in towers if type(m).__name__ in ("GELU", "QuickGELU")}


def test_openai_torchscript_archive_and_state_dict_load_with_the_right_activation(tmp_path):
    """OpenAI ships TorchScript archives (QuickGELU); a state dict is GELU unless told otherwise."""
    import open_clip

    from clipmat.build import activation_note, is_torchscript, register_clip_configs

    register_clip_configs()
    torch.manual_seed(0)
    clip = open_clip.create_model("clipmat-tiny-clip", force_quick_gelu=True).eval()
    archive = tmp_path / "ViT-tiny.pt"
    torch.jit.script(clip).save(str(archive))  # what OpenAI's ViT-B-16.pt is: a scripted module
    plain = tmp_path / "tiny-state.pt"
    torch.save(clip.state_dict(), plain)
    assert is_torchscript(archive) and not is_torchscript(plain)

    from_archive = build_model("tiny", clip_weights=str(archive))
    assert from_archive.config.quick_gelu and _activations(from_archive) == {"QuickGELU"}
    theirs = clip.state_dict()
    ours = {k.split("visual.", 1)[-1]: v for k, v in from_archive.state_dict().items() if "conv1.weight" in k}
    assert torch.equal(next(iter(ours.values())), theirs["visual.conv1.weight"])  # the archive's tensors, not random ones
    assert "TorchScript archive, OpenAI's release format: QuickGELU" in activation_note(str(archive), None, from_archive.config)

    from_state = build_model("tiny", clip_weights=str(plain))
    assert not from_state.config.quick_gelu and _activations(from_state) == {"GELU"}
    assert "GELU activations assumed (pass --quick-gelu" in activation_note(str(plain), None, from_state.config)
    told = build_model("tiny", clip_weights=str(plain), quick_gelu=True)
    assert told.config.quick_gelu and _activations(told) == {"QuickGELU"}
    overridden = build_model("tiny", clip_weights=str(archive), quick_gelu=False)
    assert not overridden.config.quick_gelu and "as --no-quick-gelu says" in activation_note(str(archive), False, overridden.config)
    path = save_checkpoint(from_archive, tmp_path / "m.safetensors")
    assert load_checkpoint(path).config.quick_gelu  # recorded with the checkpoint


def test_positional_embeddings_are_resized_once_to_the_padded_grid():
    """ViT-L/14 at 512 px: the CLIP is built for 518 px (37 x 37 patches) and the input padded to it,
    so the forward pass never interpolates positional embeddings."""
    from clipmat.build import _clip_grid_size

    l14 = get_config("ViT-L-14")
    assert l14.image_size == 512 and _clip_grid_size(l14) == 518
    assert _clip_grid_size(get_config("ViT-B-16")) == 512
    odd = get_config("tiny").__class__(**{**get_config("tiny").to_dict(), "image_size": 60})  # patch 8: 64
    model = build_model(odd).eval()
    assert model.image_encoder.grid == (8, 8)
    seen = []
    real = model.image_encoder.positions
    model.image_encoder.positions = lambda h, w: (seen.append((h, w)), real(h, w))[1]
    with torch.no_grad():
        model(torch.rand(1, 3, 60, 60), torch.zeros(1, odd.text_length("keyword"), dtype=torch.long))
    assert seen == [(8, 8)]  # the grid the weights were resized to on load: positions() returns them as they are


@pytest.mark.parametrize("off", [("tsp",), ("mde",), ("pre-context",), ("post-context",), ("tsp", "mde", "pre-context", "post-context")])
def test_every_ablation_builds_runs_and_round_trips(off, tmp_path):
    """Table 3's switches: each builds, runs, survives a checkpoint and changes what it says."""
    config = get_config("tiny").with_ablations(off)
    assert config.ablated == tuple(a for a in ("tsp", "mde", "pre-context", "post-context") if a in off)
    torch.manual_seed(0)
    model = build_model(config).eval()
    image, tokens = _batch()
    out = model(image, tokens)
    assert out["alpha"].shape == (2, 1, 64, 64)
    if "tsp" in off:  # without TSP the text does not reach the trimap
        other = model(image, torch.flip(tokens, dims=[0]))
        assert torch.equal(out["trimap_logits"], other["trimap_logits"])
    out["details"].sum().backward()
    assert all(p.grad is None for p in model.mde.parameters()) == ("mde" in off)  # off: not in the graph
    if "post-context" in off:
        assert model.context.vectors.shape[0] == 0
    path = save_checkpoint(model, tmp_path / "m.safetensors")
    loaded = load_checkpoint(path).eval()
    assert loaded.config.ablated == config.ablated and torch.equal(loaded(image, tokens)["alpha"], out["alpha"])
    from clipmat.model.prompt import keyword_prompt

    assert keyword_prompt("cat", templates=config.pre_context) == ("cat" if "pre-context" in off else "the foreground of cat")
    with pytest.raises(ConfigError, match="unknown ablation tsb; choose from tsp, mde, pre-context, post-context"):
        get_config("tiny").with_ablations(["tsb"])
