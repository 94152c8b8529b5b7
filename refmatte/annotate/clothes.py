"""Clothes of human entities (paper 3.1) by CLIP zero-shot, since mmfashion is not installable.

The words are the DeepFashion-style attribute vocabulary the official RefMatte data uses
(knit, lace, print, floral, denim, ...). Each word becomes a prompt "a photo of a person
wearing {phrase}"; CLIP scores the entity (over grey) against every prompt, and the words
whose softmax probability reaches ``MIN_PROB`` (at most ``TOP``) are kept.

Weights: ``--clip-weights PATH`` (an open_clip checkpoint of ``--clip-model``), or a
pretrained tag such as ``openai`` that open_clip downloads for a user who is online.
``--clip-model`` may also be the path of an open_clip model-config JSON (a custom or tiny
model). Without weights the annotator does not run and says so; hand labels can be given
with ``refmatte labels import``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from refmatte.annotate.base import Annotator, WeightsMissing
from refmatte.annotate.detector import over_neutral
from refmatte.annotate.hand import read_hand_labels
from refmatte.imaging import read_rgba

VERSION = 1
MIN_PROB = 0.15
TOP = 2
# word -> phrase in the prompt
WORDS = {
    "knit": "knitted clothes", "lace": "lace clothes", "print": "clothes with a print", "floral": "floral clothes",
    "denim": "denim clothes", "linen": "linen clothes", "striped": "striped clothes", "sleeveless": "sleeveless clothes",
    "maxi": "a maxi dress", "dress": "a dress", "shirt": "a shirt", "t-shirt": "a t-shirt", "coat": "a coat",
    "jacket": "a jacket", "suit": "a suit", "sweater": "a sweater", "skirt": "a skirt", "jeans": "jeans",
    "shorts": "shorts", "leather": "leather clothes", "chiffon": "chiffon clothes", "plaid": "plaid clothes",
}
PROMPT = "a photo of a person wearing {}"


def _weights_id(weights: str) -> str:
    p = Path(weights)
    if not p.is_file():
        return weights  # a pretrained tag such as openai
    return f"{p.name}@{hashlib.sha256(p.read_bytes()).hexdigest()[:12]}"


def load_clip(model: str, weights: str | None):
    """(model, preprocess, tokenizer, model name) of open_clip; WeightsMissing when absent."""
    import open_clip

    if weights is None:
        raise WeightsMissing(
            "clothes need CLIP weights: pass --clip-weights PATH (an open_clip checkpoint of --clip-model) "
            "or --clip-weights openai when online; or import hand labels with `refmatte labels import`."
        )
    name = model
    if model.endswith(".json"):  # a model config file: registered under its stem
        if not Path(model).is_file():
            raise ValueError(f"CLIP model config {model} not found.")
        open_clip.add_model_config(model)
        name = Path(model).stem
    looks_like_path = any(ch in weights for ch in "/\\") or Path(weights).suffix in (".pt", ".pth", ".bin", ".safetensors")
    if looks_like_path and not Path(weights).is_file():
        raise WeightsMissing(f"CLIP weights {weights} not found: give an open_clip checkpoint of {name}, or --clip-weights openai when online.")
    try:
        net, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=weights)
    except Exception as e:  # unreadable checkpoint, wrong model, or a download that failed offline
        raise WeightsMissing(f"CLIP weights {weights} could not be loaded for {name} ({type(e).__name__}: {str(e).splitlines()[0][:160]}).") from None
    return net.eval(), preprocess, open_clip.get_tokenizer(name), name


class ClothesAnnotator(Annotator):
    name = "clothes"
    columns = ("clothes", "clothes_scores")
    batch_size = 16

    def __init__(self, out: Path, model: str = "ViT-B-16", weights: str | None = None):
        self.model_name, self.weights = model, weights
        self.net = None
        self.hand_labels = read_hand_labels(out)

    def hand(self, row: dict) -> dict | None:
        words = self.hand_labels.get(row["entity_id"], {}).get("clothes")
        if words is None:
            return None
        clothes = [w for w in words.split(";") if w]
        return dict(clothes=clothes, clothes_scores=[1.0] * len(clothes))

    def prepare(self) -> None:
        import torch

        self.net, self.preprocess, tokenizer, self.model_name = load_clip(self.model_name, self.weights)
        with torch.inference_mode():
            text = self.net.encode_text(tokenizer([PROMPT.format(p) for p in WORDS.values()]))
        self.text = text / text.norm(dim=-1, keepdim=True)
        self.weights_id = _weights_id(self.weights)

    def provenance(self) -> str:
        return f"clothes/{VERSION} clip={self.model_name}:{getattr(self, 'weights_id', self.weights)} min_prob={MIN_PROB} top={TOP}"

    def applies(self, row: dict) -> bool:
        return row["supercategory"] == "human"

    def run(self, rows: list[dict], out: Path) -> list[dict]:
        import torch
        from PIL import Image

        images = torch.stack([self.preprocess(Image.fromarray(over_neutral(read_rgba(out / r["rgba_path"])))) for r in rows])
        with torch.inference_mode():
            feats = self.net.encode_image(images)
            feats = feats / feats.norm(dim=-1, keepdim=True)
            probs = (100.0 * feats @ self.text.T).softmax(dim=-1).numpy()
        words = list(WORDS)
        results = []
        for p in probs:
            order = [i for i in np.argsort(-p, kind="stable")[:TOP] if p[i] >= MIN_PROB]
            results.append(dict(clothes=[words[i] for i in order], clothes_scores=[float(p[i]) for i in order]))
        return results
