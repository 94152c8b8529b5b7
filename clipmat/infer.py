"""Inference at any image size, and scoring a set of predictions against a manifest.

:func:`predict_alpha` resizes the image so its long side is at most ``long_side`` with
both sides snapped to multiples of 32 (aspect kept), runs the model and resizes the matte
back to the original size (GFM/P3M test-time protocol). :func:`score` runs any predictor
over a manifest's entities and scores each prediction at the original resolution with
:mod:`clipmat.metrics`; it also measures referring accuracy: the share of entities whose
prediction overlaps their own matte (soft IoU) more than any other entity's in the image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from clipmat.data import DataError, eval_text, read_image, read_manifest, read_matte, usable
from clipmat.metrics import METRICS, all_metrics
from clipmat.model import tokenize
from refmatte.imaging import ImageReadError, read_cv2

MULTIPLE = 32


def snapped_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) with the long side at most ``long_side``, aspect kept, each a multiple of 32 (>= 32)."""
    scale = min(1.0, long_side / max(height, width))
    snap = lambda v: max(MULTIPLE, int(round(v * scale / MULTIPLE)) * MULTIPLE)  # noqa: E731
    return snap(height), snap(width)


def _input(image: np.ndarray, long_side: int, device) -> torch.Tensor:
    """(1, 3, h, w) in [0, 1]: ``image`` resized to its :func:`snapped_size` for ``long_side``."""
    h, w = image.shape[:2]
    sh, sw = snapped_size(h, w, long_side)
    x = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if sh < h else cv2.INTER_LINEAR)
    return torch.from_numpy(x).permute(2, 0, 1).float().div(255).unsqueeze(0).to(device)


@torch.inference_mode()
def predict_alpha(model: torch.nn.Module, image: np.ndarray, texts: list[str], setting: str,
                  long_side: int | None = None, refiner: torch.nn.Module | None = None) -> np.ndarray:
    """Mattes (len(texts), H, W) float32 in [0, 1] for one RGB uint8 image (H, W, 3) and several texts.

    ``model``: any text-driven model (CLIPMat, CLIPSeg); ``refiner``: a :mod:`clipmat.refiner`
    model that refines each matte at its own input size (Table 2's "Refiner: yes").
    """
    if model.config.family == "cascade":  # no tensors in, whole images: clipmat.cascade
        return np.stack([model.predict(image, text, long_side) for text in texts])
    h, w = image.shape[:2]
    onnx = getattr(model, "runs_onnx", False)  # an exported graph on onnxruntime (clipmat.export)
    device = torch.device("cpu") if onnx else next(model.parameters()).device
    x = _input(image, long_side or model.config.image_size, device).expand(len(texts), -1, -1, -1)
    tokens = tokenize(texts, model.config.text_length(setting)).to(device)
    if onnx:
        alpha = torch.from_numpy(model(x.numpy(), tokens.numpy()))
    else:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            alpha = model.eval()(x, tokens)["alpha"]
    alpha = alpha.float().clamp(0, 1)  # (N, 1, sh, sw)
    if refiner is not None:
        refiner.eval()
        rdevice = next(refiner.parameters()).device
        xr = _input(image, long_side or refiner.config.image_size, rdevice)
        coarse = F.interpolate(alpha.to(rdevice), size=xr.shape[-2:], mode="bilinear", align_corners=False)
        with torch.autocast(rdevice.type, dtype=torch.bfloat16, enabled=rdevice.type == "cuda"):
            alpha = refiner(xr.expand(len(texts), -1, -1, -1), coarse)["alpha"].float().clamp(0, 1)
    return np.stack([cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR) for a in alpha[:, 0].cpu().numpy()])


def soft_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.maximum(a, b).sum()
    return float(np.minimum(a, b).sum() / union) if union > 0 else 0.0


@dataclass
class Scored:
    table: pd.DataFrame  # one row per entity: matte_path, text, metrics, referring_correct, error
    skipped: list[str]  # one sentence per entity that could not be scored

    def summary(self) -> dict[str, float]:
        ok = self.table[self.table.error.isna()]
        out = {m: float(ok[m].mean()) for m in METRICS if m in ok}
        out["referring_accuracy"] = float(ok.referring_correct.mean()) if len(ok) else float("nan")
        out["entities"] = len(ok)
        return out


def scoring_inputs(manifest, setting: str, templates: bool = True) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(rows scored in ``setting``, every entity of the manifest, the fixed text of each row);
    ``templates``: the model's ``config.pre_context`` (False: keywords bare)."""
    everyone = read_manifest(manifest, None)
    rows = usable(everyone, setting)
    return rows, everyone, [eval_text(r, setting, templates) for _, r in rows.iterrows()]


Predictor = Callable[[np.ndarray, pd.DataFrame, list[np.ndarray]], list[np.ndarray]]


def _images(rows: pd.DataFrame, everyone: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame, pd.DataFrame]]:
    for image_file, group in rows.groupby("image_file", sort=True):
        yield image_file, group, everyone[everyone.image_file == image_file]


def score(rows: pd.DataFrame, everyone: pd.DataFrame, predictor: Predictor, texts: list[str],
          metrics: tuple[str, ...] = METRICS, progress: Callable[[int], None] | None = None,
          region: str = "whole", conventions: str = "dim") -> Scored:
    """Score ``predictor`` on ``rows`` (from :func:`clipmat.data.read_manifest`).

    ``everyone`` holds all entities of the same manifest (any setting), whose mattes are
    the competitors for referring accuracy. ``predictor(image, group_rows, group_texts)``
    returns one matte (H, W) in [0, 1] per row of the group, or an exception for a row
    whose prediction is unusable (that entity is skipped and reported).
    """
    text_of = dict(zip(rows.index, texts))
    records, skipped = [], []
    for image_file, group, peers in _images(rows, everyone):
        try:
            image = read_image(image_file)
            mattes = {p.matte_file: read_matte(p.matte_file, image.shape) for p in peers.itertuples()}
            preds = predictor(image, group, [text_of[i] for i in group.index])
        except (DataError, OSError, ValueError) as e:
            for row in group.itertuples():
                skipped.append(f"{row.matte_path}: {e}")
                records.append({"_row": row.Index, "matte_path": row.matte_path, "text": text_of[row.Index],
                                "error": str(e)})
            if progress:
                progress(len(group))
            continue
        for row, pred in zip(group.itertuples(), preds):
            if isinstance(pred, Exception):  # this entity's prediction alone is unusable
                skipped.append(f"{row.matte_path}: {pred}")
                records.append({"_row": row.Index, "matte_path": row.matte_path, "text": text_of[row.Index],
                                "error": str(pred)})
                continue
            own = mattes[row.matte_file]
            overlaps = {f: soft_iou(pred, m) for f, m in mattes.items()}
            rivals = [v for f, v in overlaps.items() if f != row.matte_file]
            records.append({"_row": row.Index, "matte_path": row.matte_path, "text": text_of[row.Index],
                            **all_metrics(pred, own, metrics, region, conventions),
                            "referring_correct": bool(overlaps[row.matte_file] > max(rivals, default=-1.0)),
                            "error": None})
        if progress:
            progress(len(group))
    if not records:
        return Scored(pd.DataFrame(columns=["matte_path", "text", *metrics, "referring_correct", "error"]), skipped)
    table = pd.DataFrame.from_records(records).sort_values("_row").drop(columns="_row").reset_index(drop=True)
    return Scored(table, skipped)  # rows in the manifest's order


def model_predictor(model, setting: str, long_side: int | None = None, refiner: torch.nn.Module | None = None,
                    no_match: list[str] | None = None) -> Predictor:
    """Predictions of a model (any family). A cascade's phrase that matches nothing is scored as an
    empty matte, and its message appended to ``no_match``."""
    if model.config.family == "cascade":
        from clipmat.cascade import NoMatch

        def predict(image, group, texts):
            out = []
            for text in texts:
                try:
                    out.append(model.predict(image, text, long_side))
                except NoMatch as e:
                    if no_match is not None:
                        no_match.append(str(e))
                    out.append(np.zeros(image.shape[:2], np.float32))
            return out
        return predict
    return lambda image, group, texts: list(predict_alpha(model, image, texts, setting, long_side, refiner))


def png_predictor(folder) -> Predictor:
    """Predictions read from ``folder``: one 8-bit grey PNG per entity, named as the entity's matte file."""
    from pathlib import Path

    folder = Path(folder)

    def predict(image, group, texts):
        out = []
        for row in group.itertuples():
            path = folder / Path(row.matte_path).name  # the name only: a manifest path never leaves the folder
            try:
                pred = read_cv2(path, cv2.IMREAD_GRAYSCALE, "prediction")
            except ImageReadError as e:
                out.append(DataError(f"prediction {e}"))
                continue
            if pred.shape != image.shape[:2]:
                out.append(DataError(f"prediction {path} is {pred.shape[1]}x{pred.shape[0]}, the image is "
                                     f"{image.shape[1]}x{image.shape[0]}: predictions must be at the original size"))
            else:
                out.append(pred.astype(np.float32) / 255.0)
        return out
    return predict


def union_predictor(everyone: pd.DataFrame) -> Predictor:
    """Baseline: every entity of the image at once (the union of all mattes)."""
    def predict(image, group, texts):
        peers = everyone[everyone.image_file == group.image_file.iloc[0]]
        union = np.clip(sum(read_matte(p.matte_file, image.shape) for p in peers.itertuples()), 0, 1)
        return [union] * len(group)
    return predict


def empty_predictor(image, group, texts):
    """Baseline: nothing."""
    return [np.zeros(image.shape[:2], np.float32)] * len(group)
