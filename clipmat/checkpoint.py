"""CLIPMat checkpoints: safetensors weights with the model config in the file's metadata.

Loading never runs pickled code: safetensors files are plain tensors, and ``.pt`` files
are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from clipmat.build import build_model
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
    meta = {"format": FORMAT, "config": json.dumps(_unwrap(model).config.to_dict()), **(metadata or {})}
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
        config_data, state = blob["config"], blob["state_dict"]
        try:
            config_data = json.loads(config_data) if isinstance(config_data, str) else config_data
        except json.JSONDecodeError:
            raise CheckpointError(f"checkpoint {path} has no readable model config") from None
    else:
        try:
            config_data = json.loads(read_metadata(path).get("config", ""))
        except json.JSONDecodeError:
            raise CheckpointError(f"checkpoint {path} has no readable model config in its metadata") from None
        state = load_file(str(path))
    try:
        config = ClipMatConfig.from_dict(config_data, source=str(path))
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"checkpoint {path} holds an unusable config: {e}") from None
    model = build_model(config)
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


def _unwrap(model: torch.nn.Module) -> CLIPMat:
    return getattr(model, "module", model)  # DistributedDataParallel keeps the model in .module
