"""CLIPSeg (Lüddecke and Ecker 2022), Table 2's baseline, as Hugging Face transformers ships it.

``CLIPSegForImageSegmentation``: frozen CLIP ViT-B/16 (as the paper's baseline; ``freeze_clip``),
activations of three layers reduced to 64 channels, FiLM-conditioned on the text, decoded
to one logit map at its input size (352 px, square: the decoder takes square grids only).
Here the logits become a matte by a sigmoid, and the model is trained with the same loop,
data and losses (the fused-alpha terms, plus composition under RSSN) as CLIPMat.

Text goes in as open_clip's tokens: CLIPSeg's tokenizer is OpenAI's CLIP BPE, the same
vocabulary and start/end ids, so no tokenizer files are needed; padding is masked out.

Weights: ``pretrained`` (or ``clip_weights`` at build time) is a hub id such as
``CIDAS/clipseg-rd64-refined`` (downloaded when online) or a local folder holding its
``config.json`` and weights; with none, the architecture in ``hf_config`` is built with
random weights (the tests' tiny model). A checkpoint stores the architecture it was
trained with, and it is checked (known keys, bounded sizes that fit the file's tensors)
before anything is built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from clipmat.config import ConfigError, FamilyConfig

HUB_ID = "CIDAS/clipseg-rd64-refined"
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # CLIPSeg's image processor
IMAGENET_STD = (0.229, 0.224, 0.225)
# bounds of an architecture read from a file: far above CLIPSeg's, far below what exhausts a machine
# the only keys an architecture may carry (anything else, e.g. attn_implementation naming a hub kernel, is refused)
_TOP_KEYS = {"extract_layers", "reduce_dim", "projection_dim", "conditional_layer", "decoder_num_attention_heads",
             "decoder_intermediate_size", "decoder_hidden_act", "decoder_attention_dropout",
             "use_complex_transposed_convolution", "logit_scale_init_value", "text_config", "vision_config"}
_TOWER_KEYS = {"hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers", "max_position_embeddings",
               "vocab_size", "hidden_act", "bos_token_id", "eos_token_id", "pad_token_id", "image_size", "patch_size",
               "num_channels", "layer_norm_eps", "attention_dropout", "dropout", "initializer_range",
               "initializer_factor", "projection_dim"}
_ACTIVATIONS = {"quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh", "relu"}
_LIMITS = {"hidden_size": 4096, "intermediate_size": 16384, "num_hidden_layers": 64, "num_attention_heads": 64,
           "image_size": 4096, "patch_size": 256, "max_position_embeddings": 1024, "vocab_size": 1 << 18,
           "projection_dim": 4096, "reduce_dim": 1024, "decoder_intermediate_size": 16384,
           "decoder_num_attention_heads": 64}


@dataclass(frozen=True)
class ClipSegConfig(FamilyConfig):
    family: str = "clipseg"
    image_size: int = 352
    pretrained: str = ""  # hub id or local folder of weights used when clipmat train gets no --clip-weights
    freeze_clip: bool = True  # CLIPSeg's recipe: CLIP frozen, the decoder trained
    hf_config: dict = field(default_factory=dict)  # transformers CLIPSegConfig fields (random weights, checkpoints)

    @property
    def needs(self) -> str:
        return f"CLIPSeg weights (--clip-weights {HUB_ID} online, or a local folder); trained on RefMatte"


def _check_hf_config(data: dict, source: str, tensors: int | None = None) -> None:
    """ConfigError unless ``data`` is a CLIPSegConfig dict of bounded sizes (and, with ``tensors``,
    about as many parameters as the file holds)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: hf_config must be an object")
    towers = [data] + [data.get(k) or {} for k in ("text_config", "vision_config")]
    bad = sorted(set(data) - _TOP_KEYS)
    for i, tower in enumerate(towers):
        if not isinstance(tower, dict):
            raise ConfigError(f"{source}: hf_config's text_config and vision_config must be objects")
        if i:
            bad += sorted(set(tower) - _TOWER_KEYS)
        bad += [f"{k} ({tower[k]!r} is not one of {', '.join(sorted(_ACTIVATIONS))})" for k in ("hidden_act", "decoder_hidden_act")
                if k in tower and tower[k] not in _ACTIVATIONS]
        for k, limit in _LIMITS.items():
            v = tower.get(k)
            if k in tower and not (type(v) is int and 0 < v <= limit):
                bad.append(f"{k} (a positive integer <= {limit})")
    layers = data.get("extract_layers", [3, 6, 9])
    if not (isinstance(layers, list) and layers and all(type(v) is int and 0 <= v < 64 for v in layers)):
        bad.append("extract_layers (block numbers)")
    if bad:
        raise ConfigError(f"{source}: hf_config has keys or values clipmat does not accept: {', '.join(bad)}")
    if tensors is not None:
        estimate = 0
        for tower in towers[1:]:
            w = tower.get("hidden_size", 512)
            estimate += tower.get("num_hidden_layers", 12) * (4 * w * w + 2 * w * tower.get("intermediate_size", 4 * w))
        text, vision = towers[1], towers[2]
        estimate += (text.get("vocab_size", 49408) + text.get("max_position_embeddings", 77)) * text.get("hidden_size", 512)
        grid = vision.get("image_size", 224) // vision.get("patch_size", 32)
        estimate += (grid * grid + 1 + 3 * vision.get("patch_size", 32) ** 2) * vision.get("hidden_size", 768)
        if estimate > 2 * tensors + 10**6:
            raise ConfigError(f"{source}: hf_config describes about {estimate:,} parameters but the file holds "
                              f"{tensors:,}; the two do not belong together")


class ClipSegMatte(nn.Module):
    """CLIPSeg as a matting model: ``forward(image, tokens)`` -> ``{"alpha"}`` (see the module doc)."""

    def __init__(self, config: ClipSegConfig, net: nn.Module):
        super().__init__()
        self.config, self.net = config, net
        if config.freeze_clip:
            for p in net.clip.parameters():
                p.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, H, W) in [0, 1] and (B, L) open_clip token ids -> alpha (B, 1, H, W) in [0, 1]."""
        if image.shape[0] != tokens.shape[0]:
            raise ValueError(f"{image.shape[0]} images but {tokens.shape[0]} texts: pass one text per image")
        h, w = image.shape[-2:]
        side = self.config.image_size  # square (the decoder needs it); positional embeddings are interpolated
        x = F.interpolate(image, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
        logits = self.net(input_ids=tokens, pixel_values=(x - self.mean) / self.std,
                          attention_mask=(tokens != 0).long()).logits  # (B, side, side)
        logits = F.interpolate(logits.reshape(-1, 1, side, side).float(), size=(h, w), mode="bilinear",
                               align_corners=False)
        return {"alpha": torch.sigmoid(logits)}


def _transformers():
    try:
        import transformers
    except ImportError:
        raise ConfigError("CLIPSeg needs Hugging Face transformers: pip install 'refmatte[baselines]'") from None
    return transformers


def build_clipseg(config: ClipSegConfig, weights: str | None = None) -> ClipSegMatte:
    """CLIPSeg with ``weights`` (hub id or folder; default ``config.pretrained``), else random from ``hf_config``."""
    from clipmat.build import WeightsError

    tf = _transformers()
    weights = weights or config.pretrained or None
    if weights is None:
        if not config.hf_config:
            raise ConfigError(f"model config {config.name}: no weights and no hf_config; pass --clip-weights "
                              f"{HUB_ID} (online) or a local CLIPSeg folder")
        _check_hf_config(config.hf_config, f"model config {config.name}")
        net = tf.CLIPSegForImageSegmentation(tf.CLIPSegConfig(**config.hf_config, attn_implementation="sdpa"))
    else:
        local = Path(weights).expanduser()
        if local.exists() and not (local / "config.json").is_file():
            raise WeightsError(f"CLIPSeg weights folder {local} has no config.json: pass a folder saved by "
                               f"transformers (save_pretrained), or the hub id {HUB_ID} when online")
        try:
            net = tf.CLIPSegForImageSegmentation.from_pretrained(str(local) if local.exists() else weights)
        except Exception as e:  # offline, missing files, wrong architecture: all end here
            raise WeightsError(f"could not load CLIPSeg weights {weights} ({type(e).__name__}: {e}); offline, "
                               f"download {HUB_ID} on a machine with internet and pass its folder") from None
    hf = net.config.to_dict()  # what is stored with checkpoints: the architecture keys only
    hf = {k: ({kk: vv for kk, vv in v.items() if kk in _TOWER_KEYS} if k in ("text_config", "vision_config") else v)
          for k, v in hf.items() if k in _TOP_KEYS}
    return ClipSegMatte(dataclasses.replace(config, hf_config=_plain(hf)), net)


def _plain(data):
    """JSON-safe copy of a transformers config dict (tuples as lists, no dtypes)."""
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items() if k not in ("dtype", "torch_dtype")}
    if isinstance(data, (list, tuple)):
        return [_plain(v) for v in data]
    return data
