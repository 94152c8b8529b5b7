"""Models on the Hugging Face Hub, or in a folder laid out the same way.

A model folder (or Hub repository) holds ``model.safetensors`` (a clipmat checkpoint: weights
with the config in its metadata, read by :func:`clipmat.load_checkpoint`), ``config.json``
(the same config, for people and the Hub's widgets) and ``README.md``, a model card made from
the checkpoint: architecture and parameters, what it was trained on (the run's manifest,
setting, augmentation, steps), the metrics it was evaluated with (``clipmat eval`` summaries)
and the licence. :func:`from_pretrained` reads a local folder, or downloads
``model.safetensors`` of a repository with huggingface_hub when online; nothing else of the
repository is read and no code from it runs.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from clipmat.checkpoint import CheckpointError, load_checkpoint, read_metadata, save_checkpoint

WEIGHTS = "model.safetensors"
LICENSE = "apache-2.0"
TRAINING_KEYS = ("train_manifest", "setting", "augment", "clip_weights", "step")  # metadata train() writes


def _card(model: torch.nn.Module, meta: dict[str, str], evals: list[dict], license: str) -> str:
    from huggingface_hub import ModelCard, ModelCardData

    c = model.config
    params = sum(p.numel() for p in model.parameters()) if isinstance(model, torch.nn.Module) else 0
    data = ModelCardData(library_name="clipmat", license=license, tags=["image-matting", "referring-image-matting",
                                                                        c.family], pipeline_tag="image-segmentation")
    trained = {k: meta[k] for k in TRAINING_KEYS if meta.get(k) not in (None, "", "None")}
    lines = [f"# {c.name} ({c.family})", "",
             "Referring Image Matting: given an image and a phrase, the alpha matte of the object it names "
             "(Li et al., CVPR 2023). Made with refmatte + clipmat (`pip install refmatte`).", "",
             "## Architecture", "", f"- family: {c.family}; parameters: {params / 1e6:.1f} M",
             *[f"- {k}: {v}" for k, v in c.to_dict().items() if k not in ("hf_config", "mean", "std")], "",
             "## Training", ""]
    lines += [f"- {k}: {v}" for k, v in trained.items()] or ["- not recorded in the checkpoint"]
    lines += ["", "## Evaluation", ""]
    if evals:
        lines += ["| manifest | setting | region | SAD | MSE | MAD | referring accuracy | entities |",
                  "|---|---|---|---|---|---|---|---|"]
        fmt = lambda v: "-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
        for e in evals:
            lines.append(f"| {e.get('manifest', '-')} | {e.get('setting', '-')} | {e.get('region', 'whole')} | "
                         + " | ".join(fmt(e.get(k)) for k in ("sad", "mse", "mad", "referring_accuracy", "entities"))
                         + " |")
        lines += ["", "SAD is reported / 1000, MSE and MAD as means over pixels, each averaged over entities "
                  "(clipmat eval; the protocol is printed in its summary)."]
    else:
        lines.append("- not evaluated when this card was made (run `clipmat eval CKPT MANIFEST`, then pass the JSON "
                     "it writes to `clipmat export --eval` or `clipmat push --eval`)")
    lines += ["", "## Use", "", "```python", "import clipmat.hub", "", 'model = clipmat.hub.from_pretrained("REPO_OR_FOLDER")',
              "```", "", "or `clipmat predict hf:REPO_ID photo.jpg \"the black dog\"`.", "",
              "## Licence", "", f"{license}. The training data's own licences apply to what the model learned from "
              "(RefMatte's sources: see the datasheet of the manifests)."]
    return ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n\n" + "\n".join(lines)).content


def save_pretrained(checkpoint: str | Path, folder: str | Path, evals: list[str | Path] = (),
                    license: str = LICENSE) -> Path:
    """A model folder (module doc) made from a clipmat checkpoint file; ``evals``: ``clipmat eval`` JSON summaries."""
    checkpoint, folder = Path(checkpoint), Path(folder)
    meta = read_metadata(checkpoint)
    model = load_checkpoint(checkpoint)
    summaries = []
    for path in evals:
        try:
            summary = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise CheckpointError(f"evaluation summary {path} is not readable JSON ({e}); give the .json that "
                                  "clipmat eval writes beside its CSV") from None
        if not isinstance(summary, dict) or "sad" not in summary:
            raise CheckpointError(f"{path} is not a clipmat eval summary (no 'sad')")
        summaries.append(summary)
    folder.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, folder / WEIGHTS, {k: meta[k] for k in TRAINING_KEYS if k in meta})
    from refmatte.atomic import atomic_write_bytes

    atomic_write_bytes(folder / "config.json", json.dumps({"family": model.config.family, **model.config.to_dict()},
                                                          indent=1).encode())
    atomic_write_bytes(folder / "README.md", _card(model, meta, summaries, license).encode())
    return folder


def from_pretrained(repo_or_folder: str | Path, revision: str | None = None, device: str = "cpu") -> torch.nn.Module:
    """The model of a model folder, or of a Hub repository (only its ``model.safetensors`` is downloaded)."""
    local = Path(repo_or_folder).expanduser()
    if local.is_dir():
        if not (local / WEIGHTS).is_file():
            raise CheckpointError(f"{local} has no {WEIGHTS}: give a folder written by clipmat export --format hf "
                                  "(or clipmat.hub.save_pretrained)")
        return load_checkpoint(local / WEIGHTS, device)
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(str(repo_or_folder), WEIGHTS, revision=revision, library_name="clipmat")
    except Exception as e:  # offline, no such repository, no such file: all end here
        raise CheckpointError(f"could not get {WEIGHTS} of the Hub repository {repo_or_folder} ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}); offline, download the folder elsewhere "
                              "and pass its path") from None
    return load_checkpoint(path, device)


def push_to_hub(checkpoint: str | Path, repo_id: str, evals: list[str | Path] = (), private: bool = False,
                license: str = LICENSE, token: str | None = None) -> str:
    """Upload a model folder made from ``checkpoint`` to ``repo_id`` (created if needed); the repository URL."""
    from huggingface_hub import HfApi

    with tempfile.TemporaryDirectory(prefix="clipmat-hub-") as tmp:
        folder = save_pretrained(checkpoint, Path(tmp) / "model", evals, license)
        api = HfApi(token=token)
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message="clipmat model")
    return str(url)
