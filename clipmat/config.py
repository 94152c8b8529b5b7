"""CLIPMat architectures: one small JSON file per architecture in ``clipmat/configs/``.

The registry is a scan of that folder (:func:`list_models`); :func:`get_config` reads a
registered name or any JSON file with the same fields into a typed :class:`ClipMatConfig`.
The CLIP encoders themselves are open_clip architectures, named by ``clip_model``; tiny
test backbones live in ``clipmat/configs/clip/`` and are registered with open_clip.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "configs"
CLIP_CONFIG_DIR = CONFIG_DIR / "clip"

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
# Upper bounds of the sizes a config may ask for (a checkpoint's config is data: no 10^6 px input)
SIZE_LIMITS = {"image_size": 4096, "detail_blocks": 255, "keyword_length": 77, "expression_length": 77,
               "context_tokens": 77, "tsp_dim": 4096, "tsp_heads": 64, "tsp_out": 4096, "semantic_channels": 4096,
               "details_channels": 4096, "mde_image_channels": 1024}
# open_clip architecture names: letters, digits, '.', '_', '-' (no path, no 'hf-hub:' schema)
CLIP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


ABLATIONS = ("tsp", "mde", "pre-context", "post-context")  # Table 3's rows switch these off


class ConfigError(ValueError):
    """A model config that cannot be read; the message names the file or name and the fix."""


class _Config:
    """What every architecture config shares: typed fields checked on creation, JSON in and out."""

    name: str

    def _check_types(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = type(f.default) if f.default is not dataclasses.MISSING else \
                type(f.default_factory()) if f.default_factory is not dataclasses.MISSING else str
            ok = isinstance(value, tuple) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) \
                if kind is tuple else isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
            if not ok and not (kind is float and isinstance(value, int)):
                raise ConfigError(f"model config {self.name}: {f.name} should be {kind.__name__}, got {value!r}")

    def text_length(self, setting: str) -> int:
        """Tokens of tokenised text for ``setting`` ('keyword' or 'expression'), before the context."""
        if setting == "keyword":
            return self.keyword_length
        if setting == "expression":
            return self.expression_length
        raise ValueError(f"setting must be 'keyword' or 'expression', got {setting!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config"):
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: a model config is a JSON object, not {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
        missing = [n for n, f in fields.items() if n not in data and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ConfigError(f"{source}: missing field(s) {', '.join(missing)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)


@dataclass(frozen=True)
class ClipMatConfig(_Config):
    name: str  # registry name (the JSON file's stem)
    clip_model: str  # open_clip architecture giving the image and text encoders
    image_size: int = 512  # square input side in pixels; CLIP positional embeddings are resized to it
    detail_blocks: tuple[int, ...] = (2, 5, 8, 11)  # 0-based ViT blocks feeding MDE, shallow to deep; the last feeds TSP
    keyword_length: int = 14  # text tokens of a keyword prompt, start and end tokens included (paper 4.2)
    expression_length: int = 69  # text tokens of an expression (paper 4.2)
    context_tokens: int = 8  # learnable post-embedding context tokens appended after the text (paper 4.2)
    tsp_dim: int = 256  # D: common width of visual and text tokens inside TSP (paper 4.3)
    tsp_heads: int = 8  # attention heads of TSP's cross- and self-attention
    tsp_out: int = 256  # D': channels of the TSP feature map given to the semantic decoder
    semantic_channels: int = 128  # width of the semantic decoder's first block; the second has half
    details_channels: tuple[int, ...] = (256, 128, 64, 32)  # details decoder widths per level, coarse to fine
    mde_image_channels: int = 16  # channels of MDE's 1x1 conv on the input image (paper 4.4)
    quick_gelu: bool = False  # QuickGELU activations, as OpenAI's CLIP weights were trained with
    # Table 3's ablations (clipmat train --ablate): False turns a module off, as docs/ablations.md says
    tsp: bool = True  # off: the semantic decoder reads the last block's visual tokens through TSP's projections, no text
    mde: bool = True  # off: the details decoder upsamples the last block's features alone
    pre_context: bool = True  # off: a keyword is given bare, not in a matting template
    train_batch_size: int = 12  # default images per step and process of `clipmat train` (paper: 12 for B/16, 4 for L/14)
    mean: tuple[float, float, float] = OPENAI_MEAN  # per-channel input normalisation of the CLIP weights
    std: tuple[float, float, float] = OPENAI_STD

    family = "clipmat"
    needs = "CLIP weights (--clip-weights openai online, or a local file); trained on RefMatte"

    def __post_init__(self) -> None:
        self._check_types()
        positive = [f.name for f in dataclasses.fields(self) if isinstance(getattr(self, f.name), int)
                    and not isinstance(getattr(self, f.name), bool) and getattr(self, f.name) <= 0
                    and not (f.name == "context_tokens" and getattr(self, f.name) == 0)]  # 0: post-context off
        if positive or not self.detail_blocks or min(self.detail_blocks) < 0:
            raise ConfigError(f"model config {self.name}: sizes must be positive and detail_blocks non-empty and "
                              f">= 0 (check {', '.join(positive) or 'detail_blocks'})")
        if len(self.details_channels) != len(self.detail_blocks):
            raise ConfigError(f"model config {self.name}: details_channels needs one width per detail block "
                              f"({len(self.detail_blocks)}), got {len(self.details_channels)}")
        if list(self.detail_blocks) != sorted(set(self.detail_blocks)):
            raise ConfigError(f"model config {self.name}: detail_blocks must be increasing, got {list(self.detail_blocks)}")
        if self.tsp_dim % self.tsp_heads:
            raise ConfigError(f"model config {self.name}: tsp_dim {self.tsp_dim} is not a multiple of tsp_heads {self.tsp_heads}")
        too_big = [f"{n} <= {limit}" for n, limit in SIZE_LIMITS.items()
                   if max(getattr(self, n) if isinstance(getattr(self, n), tuple) else (getattr(self, n),)) > limit]
        if too_big:
            raise ConfigError(f"model config {self.name}: sizes out of range; need {', '.join(too_big)}")
        if not CLIP_NAME.match(self.clip_model):
            raise ConfigError(f"model config {self.name}: clip_model {self.clip_model!r} is not an open_clip architecture "
                              "name (letters, digits, '.', '_', '-')")
        for name in ("mean", "std"):
            values = getattr(self, name)
            low, high = (1e-3, 10.0) if name == "std" else (-10.0, 10.0)  # of pixels scaled to [0, 1]
            if len(values) != 3 or not all(isinstance(v, (int, float)) and low <= v <= high for v in values):
                raise ConfigError(f"model config {self.name}: {name} must be three numbers from {low:g} to {high:g} "
                                  f"(pixels are scaled to [0, 1]), got {list(values)}")

    @property
    def ablated(self) -> tuple[str, ...]:
        """The modules turned off, by their --ablate names."""
        off = dict(tsp=not self.tsp, mde=not self.mde, **{"pre-context": not self.pre_context,
                                                           "post-context": self.context_tokens == 0})
        return tuple(k for k in ABLATIONS if off[k])

    def with_ablations(self, names: tuple[str, ...] | list[str]) -> "ClipMatConfig":
        """This config with the modules in ``names`` (of :data:`ABLATIONS`) turned off."""
        unknown = [n for n in names if n not in ABLATIONS]
        if unknown:
            raise ConfigError(f"unknown ablation {', '.join(unknown)}; choose from {', '.join(ABLATIONS)}")
        changes = dict(tsp="tsp" not in names and self.tsp, mde="mde" not in names and self.mde,
                       pre_context="pre-context" not in names and self.pre_context)
        if "post-context" in names:
            changes["context_tokens"] = 0
        return dataclasses.replace(self, **changes)



@dataclass(frozen=True)
class FamilyConfig(_Config):
    """Fields of the architectures that are not CLIPMat (``family`` in the JSON names which)."""

    name: str
    family: str = ""
    image_size: int = 512  # square side the model trains at (predict snaps any image to multiples of 32)
    keyword_length: int = 14
    expression_length: int = 69
    pre_context: bool = True  # keywords in a matting template, as CLIPMat's
    train_batch_size: int = 8
    ablated = ()

    def __post_init__(self) -> None:
        self._check_types()
        if self.family not in FAMILIES:
            raise ConfigError(f"model config {self.name}: unknown family {self.family!r}; known: {', '.join(FAMILIES)}")
        limits = {"image_size": 4096, "keyword_length": 77, "expression_length": 77, "train_batch_size": 4096}
        bad = [f"{k} from 1 to {v}" for k, v in limits.items() if not 0 < getattr(self, k) <= v]
        if bad:
            raise ConfigError(f"model config {self.name}: sizes out of range; need {', '.join(bad)}")


# family name -> "module:ConfigClass" (imported when a config of that family is read)
FAMILIES = {"refiner": "clipmat.refiner:RefinerConfig", "clipseg": "clipmat.clipseg:ClipSegConfig",
            "cascade": "clipmat.cascade:CascadeConfig"}


def config_from_dict(data: dict, source: str = "config"):
    """The typed config of ``data``: its ``family`` (CLIPMat when absent) chooses the class."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a model config is a JSON object, not {type(data).__name__}")
    family = data.get("family", "clipmat")
    if family == "clipmat":
        return ClipMatConfig.from_dict({k: v for k, v in data.items() if k != "family"}, source)
    if family not in FAMILIES:
        raise ConfigError(f"{source}: unknown model family {family!r}; known: clipmat, {', '.join(FAMILIES)}")
    import importlib

    module, cls = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module), cls).from_dict(data, source)


def list_models() -> list[str]:
    """Names of the registered architectures, every family (the JSON files in ``clipmat/configs``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def get_config(name_or_path: str | Path):
    """The config registered as ``name_or_path``, or read from that JSON file (any family)."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = CONFIG_DIR / f"{name_or_path}.json"
        if not path.is_file():
            raise ConfigError(f"unknown model {name_or_path!r}: choose one of {', '.join(list_models())} "
                              "or pass a JSON config file")
    elif not path.is_file():
        raise ConfigError(f"model config file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"model config file {path} is not readable JSON: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"model config file {path} should hold a JSON object, found {type(data).__name__}")
    data.setdefault("name", path.stem)
    return config_from_dict(data, source=str(path))
