"""CLIPMat checkpoints: safetensors weights with the model config in the file's metadata.

Loading never runs pickled code: safetensors files are plain tensors, and ``.pt`` files
are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
    model = build_model(_with_clip_architecture(config, clip_config))
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


def _with_clip_architecture(config: ClipMatConfig, clip_config: dict | None) -> ClipMatConfig:
    """``config``, renamed to a registered copy of the CLIP architecture the checkpoint was saved
    with when open_clip's current one of that name differs (a config edited since)."""
    register_clip_configs()
    if clip_config is None or open_clip.get_model_config(config.clip_model) == clip_config:
        return config
    digest = hashlib.sha256(json.dumps(clip_config, sort_keys=True).encode()).hexdigest()[:8]
    name = f"{config.clip_model}-saved-{digest}"
    if open_clip.get_model_config(name) is None:
        folder = Path(tempfile.mkdtemp(prefix="clipmat-arch-"))
        (folder / f"{name}.json").write_text(json.dumps(clip_config))
        open_clip.add_model_config(folder)
    return dataclasses.replace(config, clip_model=name)


def _unwrap(model: torch.nn.Module) -> CLIPMat:
    return getattr(model, "module", model)  # DistributedDataParallel keeps the model in .module
