"""Build CLIPMat with CLIP weights from an open_clip tag, a local file, or none.

``clip_weights``:
- ``None``: random initialisation (tests, or training from scratch);
- an open_clip pretrained tag for the architecture, e.g. ``openai``: open_clip downloads
  the file when online (OpenAI's weights get the QuickGELU variant they were trained with);
- a local ``.pt`` / ``.bin`` / ``.safetensors`` CLIP checkpoint.
Positional embeddings are resized to the config's image size on load (open_clip does it).
"""

from __future__ import annotations

import logging
from pathlib import Path

import open_clip
import torch

from clipmat.config import CLIP_CONFIG_DIR, ClipMatConfig, get_config
from clipmat.model import CLIPMat

WEIGHT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")


class WeightsError(RuntimeError):
    """CLIP weights that cannot be had; the message is one sentence naming the file or tag and the fix."""


_registered = False


def register_clip_configs() -> None:
    """Make clipmat's own open_clip architectures (the tiny test backbone) known to open_clip."""
    global _registered
    if not _registered:
        open_clip.add_model_config(CLIP_CONFIG_DIR)
        _registered = True


def is_weights_file(value: str) -> bool:
    return Path(value).suffix in WEIGHT_SUFFIXES or "/" in value or Path(value).exists()


def create_clip(config: ClipMatConfig, clip_weights: str | None = None) -> torch.nn.Module:
    """The open_clip ``CLIP`` model named by ``config.clip_model`` at ``config.image_size``, with weights."""
    register_clip_configs()
    name = config.clip_model
    if name not in open_clip.list_models():
        raise WeightsError(f"open_clip has no architecture {name!r} (model config {config.name})")
    kwargs = {"force_image_size": config.image_size}
    if clip_weights is None:
        logging.disable(logging.WARNING)  # open_clip warns that no weights were loaded: that is the request
        try:
            return open_clip.create_model(name, pretrained=None, **kwargs)
        finally:
            logging.disable(logging.NOTSET)
    if is_weights_file(clip_weights):
        path = Path(clip_weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"CLIP weights file {path} does not exist: pass a local .pt/.safetensors CLIP "
                               f"checkpoint for {name}, or an open_clip tag such as 'openai' to download one")
        try:
            return open_clip.create_model(name, pretrained=str(path), **kwargs)
        except Exception as e:  # open_clip raises many types for a bad file
            raise WeightsError(f"CLIP weights file {path} does not load into {name}: {type(e).__name__}: {e}") from None
    tags = open_clip.list_pretrained_tags_by_model(name)
    if clip_weights not in tags:
        known = ", ".join(tags) if tags else "none"
        raise WeightsError(f"{clip_weights!r} is neither a file nor an open_clip weights tag for {name} "
                           f"(tags: {known})")
    quick_gelu = bool(open_clip.get_pretrained_cfg(name, clip_weights).get("quick_gelu", False))
    try:
        return open_clip.create_model(name, pretrained=clip_weights, force_quick_gelu=quick_gelu, **kwargs)
    except Exception as e:  # offline, proxy, hub errors: all end here
        raise WeightsError(f"could not get open_clip weights {name}/{clip_weights} ({type(e).__name__}: {e}); "
                           "offline, download them on a machine with internet and pass the file's path") from None


def build_model(config: ClipMatConfig | str, clip_weights: str | None = None) -> CLIPMat:
    """CLIPMat for ``config`` (a :class:`ClipMatConfig`, a registered name or a JSON path)."""
    if not isinstance(config, ClipMatConfig):
        config = get_config(config)
    return CLIPMat(config, create_clip(config, clip_weights))
