"""CLIPMat checkpoints: safetensors weights with the model config in the file's metadata.

Loading never runs pickled code: safetensors files are plain tensors, and ``.pt`` files
are read with ``torch.load(weights_only=True)``. Everything in a checkpoint is data: the
model config is validated (types, sizes, finite normalisation), the stored CLIP
architecture may only use open_clip's own ViT and text tower with known keys and sizes
that fit the file's tensors, and it is registered with open_clip under a name made from its
hash, from a temporary file that is removed at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import tempfile
from pathlib import Path

import open_clip
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from clipmat.build import build_model, register_clip_configs
from clipmat.config import ClipMatConfig, ConfigError
from clipmat.model import CLIPMat
from refmatte.atomic import atomic_path

FORMAT = "clipmat/1"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


def save_checkpoint(model: CLIPMat, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model``'s weights and config to ``path`` (.safetensors), atomically."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"checkpoint {path}: clipmat writes .safetensors files; name it {path.stem}.safetensors")
    state = {k: v.detach().contiguous().cpu() for k, v in _unwrap(model).state_dict().items()}
    config = _unwrap(model).config
    meta = {"format": FORMAT, "config": json.dumps(config.to_dict()),
            "clip_config": json.dumps(open_clip.get_model_config(config.clip_model)), **(metadata or {})}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata stored with a checkpoint (config JSON, format, anything the trainer added)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"checkpoint {path} is not a safetensors file: {e}") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} was not written by clipmat (format {meta.get('format')!r}, "
                              f"expected {FORMAT!r})")
    return meta


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> CLIPMat:
    """The CLIPMat saved at ``path`` (.safetensors, or .pt holding {'config', 'state_dict'})."""
    path = Path(path)
    if path.suffix in (".pt", ".pth"):
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises many types for a corrupt or foreign file
            raise CheckpointError(f"checkpoint {path} does not load as a weights-only torch file: {e}") from None
        if not isinstance(blob, dict) or not {"config", "state_dict"} <= set(blob):
            raise CheckpointError(f"checkpoint {path} is not a clipmat .pt file (needs 'config' and 'state_dict')")
        config_data, state, clip_config = blob["config"], blob["state_dict"], None
        try:
            config_data = json.loads(config_data) if isinstance(config_data, str) else config_data
        except json.JSONDecodeError:
            raise CheckpointError(f"checkpoint {path} has no readable model config") from None
    else:
        try:
            meta = read_metadata(path)
            config_data = json.loads(meta.get("config", ""))
            clip_config = json.loads(meta["clip_config"]) if "clip_config" in meta else None
        except json.JSONDecodeError:
            raise CheckpointError(f"checkpoint {path} has no readable model config in its metadata") from None
        state = load_file(str(path))
    try:
        config = ClipMatConfig.from_dict(config_data, source=str(path))
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path} holds an unusable config: {e}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {path} does not hold a dictionary of tensors")
    try:
        model = build_model(_with_clip_architecture(config, clip_config, sum(v.numel() for v in state.values()), path))
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {path} holds an unusable CLIP architecture: {e}") from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as e:  # tensors of the wrong shape
        raise CheckpointError(f"checkpoint {path} does not match model {config.name}: "
                              f"{str(e).splitlines()[-1].strip()}") from None
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {path} does not match model {config.name}: "
                              f"{len(missing)} missing tensors (e.g. {missing[:2]}), "
                              f"{len(unexpected)} unexpected (e.g. {unexpected[:2]})")
    return model.to(map_location)


_CLIP_KEYS = set(inspect.signature(open_clip.CLIP.__init__).parameters) - {"self", "cast_dtype", "output_dict"}
_TOWER_KEYS = {"vision_cfg": {f.name for f in dataclasses.fields(open_clip.model.CLIPVisionCfg)},
               "text_cfg": {f.name for f in dataclasses.fields(open_clip.model.CLIPTextCfg)}}


def _estimated_parameters(cfg: dict) -> int:
    """Roughly how many parameters open_clip builds for ``cfg`` (12 w^2 per transformer block, plus embeddings)."""
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    blocks = v.get("layers", 12) * v.get("width", 768) ** 2 + t.get("layers", 12) * t.get("width", 512) ** 2
    return 12 * blocks + t.get("vocab_size", 49408) * t.get("width", 512)


def _check_clip_config(cfg: object, tensors: int, path: Path) -> dict:
    """``cfg`` when it is an open_clip ViT CLIP config of known keys whose size fits the file; else ConfigError."""
    if not isinstance(cfg, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(cfg):
        raise ConfigError("clip_config must be an open_clip model config with embed_dim, vision_cfg and text_cfg")
    unknown = sorted(set(cfg) - _CLIP_KEYS)
    for tower, known in _TOWER_KEYS.items():
        if not isinstance(cfg[tower], dict):
            raise ConfigError(f"clip_config {tower} must be an object")
        unknown += [f"{tower}.{k}" for k in sorted(set(cfg[tower]) - known)]
        unknown += [f"{tower}.{k}" for k, v in cfg[tower].items() if k.startswith(("timm_", "hf_")) and v]  # code from hubs
        sizes = [k for k in ("layers", "width", "heads", "patch_size", "image_size", "context_length", "vocab_size")
                 if k in cfg[tower] and not (type(cfg[tower][k]) is int and 0 < cfg[tower][k] <= 1 << 20)]
        unknown += [f"{tower}.{k} (not a positive integer)" for k in sizes]
    if unknown:
        raise ConfigError(f"clip_config has keys clipmat does not accept: {', '.join(unknown)}")
    if _estimated_parameters(cfg) > 4 * tensors + 10**6:
        raise ConfigError(f"clip_config describes about {_estimated_parameters(cfg):,} parameters but {path} holds "
                          f"{tensors:,}; the two do not belong together")
    return cfg


def _with_clip_architecture(config: ClipMatConfig, clip_config: dict | None, tensors: int, path: Path) -> ClipMatConfig:
    """``config``, renamed to a registered copy of the CLIP architecture the checkpoint was saved
    with when open_clip's current one of that name differs (a config edited since)."""
    register_clip_configs()
    if clip_config is None or open_clip.get_model_config(config.clip_model) == clip_config:
        return config
    clip_config = _check_clip_config(clip_config, tensors, path)
    digest = hashlib.sha256(json.dumps(clip_config, sort_keys=True).encode()).hexdigest()[:12]
    name = f"clipmat-saved-{digest}"  # never a name from the file: it becomes a file name here
    if open_clip.get_model_config(name) is None:
        with tempfile.TemporaryDirectory(prefix="clipmat-arch-") as folder:  # open_clip reads it at once
            file = Path(folder) / f"{name}.json"
            file.write_text(json.dumps(clip_config))
            open_clip.add_model_config(file)
    return dataclasses.replace(config, clip_model=name)


def _unwrap(model: torch.nn.Module) -> CLIPMat:
    return getattr(model, "module", model)  # DistributedDataParallel keeps the model in .module
