"""Clothes of human entities (paper 3.1) by CLIP zero-shot, since mmfashion is not installable.

The words are the DeepFashion-style attribute vocabulary the official RefMatte data uses
(knit, lace, print, floral, denim, ...). Each word becomes a prompt "a photo of a person
wearing {phrase}"; CLIP scores the entity (over grey) against every prompt, and the words
whose softmax probability reaches ``MIN_PROB`` (at most ``TOP``) are kept.

The clothes colour (``clothes_color``, a CSS3 name) is the dominant colour (the colour
annotator's k-means) of the clothes region: the entity's opaque pixels (alpha >= 128)
between 20 % and 95 % of its box height (below the head, above the ground), without
skin-coloured pixels (YCrCb, Cr 133-173 and Cb 77-127). It is set whenever clothes are
known: by CLIP, by hand, or by the source itself (the sample pool states some people's
clothes in ``source_attributes``, used like hand labels).

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
from refmatte.annotate.color import _seed, dominant_colors
from refmatte.annotate.detector import over_neutral
from refmatte.annotate.hand import read_hand_labels
from refmatte.imaging import read_rgba

VERSION = 2  # 2: clothes_color
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
    columns = ("clothes", "clothes_scores", "clothes_color")
    batch_size = 16

    def __init__(self, out: Path, model: str = "ViT-B-16", weights: str | None = None, device: str = "cpu"):
        self.model_name, self.weights, self.device = model, weights, device  # device: not part of the key
        self.net = None
        self.out = Path(out)
        self.hand_labels = read_hand_labels(out)

    def hand(self, row: dict) -> dict | None:
        """Hand labels, else the clothes the source itself states (the sample pool's people): no model needed."""
        words = self.hand_labels.get(row["entity_id"], {}).get("clothes")
        if words is None:
            words = dict(row.get("source_attributes") or []).get("clothes")
        if words is None:
            return None
        clothes = [w for w in words.split(";") if w]
        colour = clothes_colour(read_rgba(self.out / row["rgba_path"]), row["entity_id"]) if clothes else None
        return dict(clothes=clothes, clothes_scores=[1.0] * len(clothes), clothes_color=colour)

    def prepare(self) -> None:
        import torch

        self.net, self.preprocess, tokenizer, self.model_name = load_clip(self.model_name, self.weights)
        self.net = self.net.to(self.device)
        with torch.inference_mode():
            text = self.net.encode_text(tokenizer([PROMPT.format(p) for p in WORDS.values()]).to(self.device))
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
            feats = self.net.encode_image(images.to(self.device))
            feats = feats / feats.norm(dim=-1, keepdim=True)
            probs = (100.0 * feats @ self.text.T).softmax(dim=-1).float().cpu().numpy()
        words = list(WORDS)
        results = []
        for r, p in zip(rows, probs):
            order = [i for i in np.argsort(-p, kind="stable")[:TOP] if p[i] >= MIN_PROB]
            colour = clothes_colour(read_rgba(out / r["rgba_path"]), r["entity_id"]) if order else None
            results.append(dict(clothes=[words[i] for i in order], clothes_scores=[float(p[i]) for i in order],
                                clothes_color=colour))
        return results


def clothes_colour(rgba: np.ndarray, entity_id: str) -> str | None:
    """CSS3 name of the dominant colour of the clothes region (see the module doc); None when it is empty."""
    import cv2

    alpha = rgba[..., 3]
    ys = np.flatnonzero((alpha >= 128).any(axis=1))
    if len(ys) == 0:
        return None
    top, height = ys[0], ys[-1] + 1 - ys[0]
    band = np.zeros(alpha.shape, bool)
    band[top + int(0.20 * height): top + int(0.95 * height)] = True
    ycrcb = cv2.cvtColor(np.ascontiguousarray(rgba[..., :3]), cv2.COLOR_RGB2YCrCb)
    skin = (ycrcb[..., 1] >= 133) & (ycrcb[..., 1] <= 173) & (ycrcb[..., 2] >= 77) & (ycrcb[..., 2] <= 127)
    region = band & (alpha >= 128) & ~skin
    if region.sum() < 16:
        return None
    clothes = rgba.copy()
    clothes[..., 3] = np.where(region, 255, 0)
    clusters = dominant_colors(clothes, _seed(f"clothes:{entity_id}"))
    return clusters[0]["name"] if clusters else None
