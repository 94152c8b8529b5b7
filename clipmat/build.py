"""Build CLIPMat with CLIP weights from an open_clip tag, a local file, or none.

``clip_weights``:
- ``None``: random initialisation (tests, or training from scratch);
- an open_clip pretrained tag for the architecture, e.g. ``openai``: open_clip downloads
  the file when online. Weights trained with QuickGELU (OpenAI's among them) switch the
  config's ``quick_gelu`` on, so the activation is stored with every checkpoint;
- a local ``.pt`` / ``.bin`` / ``.safetensors`` CLIP checkpoint: an open_clip state dict, or
  a TorchScript archive as OpenAI distributes its weights (``ViT-B-16.pt``). An archive
  means OpenAI's weights, so QuickGELU is chosen for it; a state dict is taken as GELU
  unless the caller says ``quick_gelu=True``; :func:`activation_note` says which and why.
  An archive is read with ``torch.jit.load``, which deserialises TorchScript, not a
  Python pickle (no Python code from the file runs); only its tensors are kept and the
  scripted module is never called.
Positional embeddings are resized once, on load, to the patch grid the forward pass uses:
the config's image size rounded up to whole patches (ViT-L/14 at 512 px: 37 x 37 patches of
518 px, the input padded by 6 px), so no call interpolates them again.
"""

from __future__ import annotations

import dataclasses
import logging
import zipfile
from pathlib import Path

import open_clip
import torch

from clipmat.config import CLIP_CONFIG_DIR, ClipMatConfig, ConfigError, get_config
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


def is_torchscript(path: str | Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding ``code/``), OpenAI's release format."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as z:
            return any(n.split("/", 1)[-1].startswith("code/") for n in z.namelist())
    except OSError:
        return False


def resolve_weights(config: ClipMatConfig, clip_weights: str | None, quick_gelu: bool | None = None) -> ClipMatConfig:
    """``config`` with ``quick_gelu`` set as the weights need: the caller's word, else the tag's
    metadata (``openai``), else QuickGELU for a TorchScript archive (OpenAI's files)."""
    if quick_gelu is None and clip_weights is not None:
        if is_weights_file(clip_weights):
            if is_torchscript(Path(clip_weights).expanduser()):
                quick_gelu = True
        else:
            register_clip_configs()
            if clip_weights in open_clip.list_pretrained_tags_by_model(config.clip_model):
                quick_gelu = bool(open_clip.get_pretrained_cfg(config.clip_model, clip_weights).get("quick_gelu", False))
    return config if quick_gelu is None else dataclasses.replace(config, quick_gelu=quick_gelu)


def activation_note(clip_weights: str | None, quick_gelu: bool | None, config: ClipMatConfig) -> str | None:
    """One sentence on how a weights file's activation was chosen (None for tags and random weights)."""
    if clip_weights is None or not is_weights_file(clip_weights):
        return None
    act = "QuickGELU" if config.quick_gelu else "GELU"
    if quick_gelu is not None:
        return f"CLIP weights {clip_weights}: {act} activations, as --{'' if quick_gelu else 'no-'}quick-gelu says."
    if is_torchscript(Path(clip_weights).expanduser()):
        return (f"CLIP weights {clip_weights} are a TorchScript archive, OpenAI's release format: QuickGELU activations, "
                "as OpenAI trained them (--no-quick-gelu overrides).")
    return (f"CLIP weights {clip_weights} are a state dict: GELU activations assumed (pass --quick-gelu if they are "
            "OpenAI's weights converted to a state dict).")


def _clip_grid_size(config: ClipMatConfig) -> int:
    """The config's image size rounded up to whole patches: the grid the forward pass pads to."""
    patch = open_clip.get_model_config(config.clip_model)["vision_cfg"].get("patch_size", 16)
    return -(-config.image_size // patch) * patch


def _load_torchscript(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    """``model`` with the tensors of the TorchScript archive at ``path`` (see the module doc)."""
    from open_clip.model import resize_pos_embed

    state = {k: v.float() for k, v in torch.jit.load(str(path), map_location="cpu").state_dict().items()
             if k not in ("input_resolution", "context_length", "vocab_size")}  # OpenAI's scalars, not weights
    state = {k: v for k, v in state.items() if not k.endswith("attn_mask")}  # a causal mask the model builds itself
    resize_pos_embed(state, model)
    model.load_state_dict(state)
    return model


def _check_architecture(config: ClipMatConfig) -> None:
    cfg = open_clip.get_model_config(config.clip_model)
    if cfg is None:
        raise ConfigError(f"open_clip has no architecture {config.clip_model!r} (model config {config.name})")
    vision, text = cfg.get("vision_cfg", {}), cfg.get("text_cfg", {})
    if "timm_model_name" in vision or "hf_model_name" in text or isinstance(vision.get("layers"), (list, tuple)):
        raise ConfigError(f"{config.clip_model} is not a ViT CLIP with open_clip's own text transformer; CLIPMat "
                          "needs one (e.g. ViT-B-16, ViT-L-14)")
    if max(config.detail_blocks) >= vision.get("layers", 0):
        raise ConfigError(f"model config {config.name}: detail block {max(config.detail_blocks)} does not exist, "
                          f"{config.clip_model} has {vision.get('layers')} blocks")
    positions = text.get("context_length", 77)
    if max(config.keyword_length, config.expression_length) + config.context_tokens > positions:
        raise ConfigError(f"model config {config.name}: text length plus {config.context_tokens} context tokens "
                          f"exceeds the text encoder's {positions} positions")


def _bare(name: str, kwargs: dict) -> torch.nn.Module:
    """open_clip's ``name`` with random weights, without its warning that none were loaded."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        return open_clip.create_model(name, pretrained=None, **kwargs)
    finally:
        logging.disable(previous)


def create_clip(config: ClipMatConfig, clip_weights: str | None = None) -> torch.nn.Module:
    """The open_clip ``CLIP`` model named by ``config.clip_model`` at ``config.image_size``, with weights."""
    register_clip_configs()
    _check_architecture(config)
    name = config.clip_model
    kwargs = {"force_image_size": _clip_grid_size(config), "force_quick_gelu": config.quick_gelu}
    if clip_weights is None:
        return _bare(name, kwargs)
    if is_weights_file(clip_weights):
        path = Path(clip_weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"CLIP weights file {path} does not exist: pass a local .pt/.safetensors CLIP "
                               f"checkpoint for {name}, or an open_clip tag such as 'openai' to download one")
        try:
            if is_torchscript(path):
                return _load_torchscript(_bare(name, kwargs), path)
            return open_clip.create_model(name, pretrained=str(path), **kwargs)
        except Exception as e:  # open_clip raises many types for a bad file
            raise WeightsError(f"CLIP weights file {path} does not load into {name}: {type(e).__name__}: {e}") from None
    tags = open_clip.list_pretrained_tags_by_model(name)
    if clip_weights not in tags:
        known = ", ".join(tags) if tags else "none"
        raise WeightsError(f"{clip_weights!r} is neither a file nor an open_clip weights tag for {name} "
                           f"(tags: {known})")
    try:
        return open_clip.create_model(name, pretrained=clip_weights, **kwargs)
    except Exception as e:  # offline, proxy, hub errors: all end here
        raise WeightsError(f"could not get open_clip weights {name}/{clip_weights} ({type(e).__name__}: {e}); "
                           "offline, download them on a machine with internet and pass the file's path") from None


def build_model(config, clip_weights: str | None = None, quick_gelu: bool | None = None) -> torch.nn.Module:
    """The model of ``config`` (a config object, a registered name or a JSON path), any family:
    CLIPMat with ``clip_weights`` as above, the refiner with ImageNet backbone weights
    (``imagenet`` or a torchvision file), CLIPSeg with a hub id or folder."""
    if isinstance(config, (str, Path)):
        config = get_config(config)
    if config.family == "refiner":
        from clipmat.refiner import build_refiner

        return build_refiner(config, clip_weights)
    if config.family == "clipseg":
        from clipmat.clipseg import build_clipseg

        return build_clipseg(config, clip_weights)
    if config.family != "clipmat":
        raise ConfigError(f"{config.name} ({config.family}) is not a trainable model")
    config = resolve_weights(config, clip_weights, quick_gelu)
    return CLIPMat(config, create_clip(config, clip_weights))
