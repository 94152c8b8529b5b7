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
from clipmat.config import ClipMatConfig, ConfigError, config_from_dict
from clipmat.model import CLIPMat
from refmatte.atomic import atomic_path

FORMAT = "clipmat/1"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message names the file and what is wrong."""


def save_checkpoint(model: torch.nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model``'s weights and config to ``path`` (.safetensors), atomically."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"checkpoint {path}: clipmat writes .safetensors files; name it {path.stem}.safetensors")
    state = {k: v.detach().contiguous().cpu() for k, v in _unwrap(model).state_dict().items()}
    config = _unwrap(model).config
    meta = {"format": FORMAT, "config": json.dumps({"family": config.family, **config.to_dict()}), **(metadata or {})}
    if config.family == "clipmat":
        meta["clip_config"] = json.dumps(open_clip.get_model_config(config.clip_model))
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


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> torch.nn.Module:
    """The model saved at ``path`` (.safetensors, or .pt holding {'config', 'state_dict'}), any family."""
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
        config = config_from_dict(config_data, source=str(path))
        if config.family == "clipseg":  # the architecture is data: checked before anything is built, never fetched
            from clipmat.clipseg import _check_hf_config

            config = dataclasses.replace(config, pretrained="")

            _check_hf_config(config.hf_config, f"checkpoint {path}", sum(v.numel() for v in state.values()))
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path} holds an unusable config: {e}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"checkpoint {path} does not hold a dictionary of tensors")
    broken = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:  # a run that diverged: every prediction would be NaN
        raise CheckpointError(f"checkpoint {path} holds NaN or infinite weights ({len(broken)} tensors, e.g. "
                              f"{broken[0]}); the run that wrote it diverged: use an earlier checkpoint")
    try:
        if config.family == "clipmat":
            config = _with_clip_architecture(config, clip_config, sum(v.numel() for v in state.values()), path)
        model = build_model(config)
    except ConfigError as e:
        raise CheckpointError(f"checkpoint {path} holds an unusable CLIP architecture: {e}") from None
    except (RuntimeError, MemoryError, ValueError, TypeError) as e:  # what open_clip raises for a config it cannot build
        raise CheckpointError(f"checkpoint {path}: its model does not build ({type(e).__name__}: {e})") from None
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


# Upper bounds of a stored CLIP architecture's sizes: far above any released CLIP, far below
# what would exhaust a machine before the tensors are even compared.
_SIZE_LIMITS = {"layers": 256, "width": 16384, "heads": 256, "patch_size": 256, "image_size": 8192,
                "context_length": 1024, "vocab_size": 1 << 20, "mlp_ratio": 16}


def _estimated_parameters(cfg: dict, image_size: int) -> int:
    """Roughly the numbers open_clip allocates for ``cfg`` at ``image_size``: (4 + 2 mlp_ratio) w^2 per
    block, positional and token embeddings, the text attention mask, the projections to embed_dim."""
    v, t = cfg["vision_cfg"], cfg["text_cfg"]
    total = 0
    for tower in (v, t):
        width = tower.get("width", 512)
        total += tower.get("layers", 12) * (4 + 2 * tower.get("mlp_ratio", 4.0)) * width ** 2
    grid = image_size // v.get("patch_size", 16)
    context = t.get("context_length", 77)
    total += (grid * grid + 3 * v.get("patch_size", 16) ** 2) * v.get("width", 768)
    total += (context + t.get("vocab_size", 49408)) * t.get("width", 512) + context * context
    total += cfg["embed_dim"] * (v.get("width", 768) + t.get("width", 512))  # the two projections
    return int(total)


def _check_clip_config(cfg: object, tensors: int, image_size: int, path: Path) -> dict:
    """``cfg`` when it is an open_clip ViT CLIP config of known keys and bounded sizes that fit the
    file's tensors; else ConfigError (before anything is allocated)."""
    if not isinstance(cfg, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(cfg):
        raise ConfigError("clip_config must be an open_clip model config with embed_dim, vision_cfg and text_cfg")
    unknown = sorted(set(cfg) - _CLIP_KEYS)
    embed = cfg["embed_dim"]
    if type(embed) is not int or not 0 < embed <= _SIZE_LIMITS["width"]:
        unknown.append(f"embed_dim (not a positive integer <= {_SIZE_LIMITS['width']})")
    for tower, known in _TOWER_KEYS.items():
        if not isinstance(cfg[tower], dict):
            raise ConfigError(f"clip_config {tower} must be an object")
        unknown += [f"{tower}.{k}" for k in sorted(set(cfg[tower]) - known)]
        unknown += [f"{tower}.{k}" for k, v in cfg[tower].items() if k.startswith(("timm_", "hf_")) and v]  # code from hubs
        for k, limit in _SIZE_LIMITS.items():
            value = cfg[tower].get(k)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= limit and \
                (k == "mlp_ratio" or type(value) is int)
            if k in cfg[tower] and not ok:
                unknown.append(f"{tower}.{k} (not a positive {'number' if k == 'mlp_ratio' else 'integer'} <= {limit})")
    if unknown:
        raise ConfigError(f"clip_config has keys clipmat does not accept: {', '.join(unknown)}")
    estimate = _estimated_parameters(cfg, image_size)
    if estimate > 2 * tensors + 10**6:
        raise ConfigError(f"clip_config describes about {estimate:,} parameters but {path} holds "
                          f"{tensors:,}; the two do not belong together")
    return cfg


def _with_clip_architecture(config: ClipMatConfig, clip_config: dict | None, tensors: int, path: Path) -> ClipMatConfig:
    """``config``, renamed to a registered copy of the CLIP architecture the checkpoint was saved
    with when open_clip's current one of that name differs (a config edited since)."""
    register_clip_configs()
    if clip_config is None or open_clip.get_model_config(config.clip_model) == clip_config:
        return config
    clip_config = _check_clip_config(clip_config, tensors, config.image_size, path)
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
