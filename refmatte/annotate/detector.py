"""Mask R-CNN (torchvision) for category labelling: loading weights, running in batches,
and choosing the detection that is the entity.

The paper labels entities with detectron2's Mask R-CNN R50-FPN; torchvision's
``maskrcnn_resnet50_fpn`` is the same architecture, trained on the same COCO classes.
Weights come from a local file (a state dict, e.g. torchvision's
``maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth``) or, for a user who is online, ``official``
(torchvision downloads them). The ``tiny`` architecture is a few-hundred-thousand
parameter Mask R-CNN with the same heads, for tests and CPU smoke runs with random
weights; it knows nothing.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refmatte.annotate.base import WeightsMissing

OFFICIAL = "official"
R50_URL = "https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
ARCHS = ("r50-fpn", "tiny")
NEUTRAL = 124  # grey the entity is composited over before detection
# Detections kept per entity (torchvision's default is 100). The entity is one object over grey:
# the one whose mask matches its alpha ranks near the top by score. 100 masks of an 800x1200
# input cost ~0.75 GB more than 20 (tools/bench_detector.py: 2.5 GB vs 1.7 GB per process).
DETECTIONS = 20


@dataclass(frozen=True)
class Detection:
    label: str  # COCO class name as torchvision spells it
    score: float
    iou: float  # soft IoU of the detection's mask with the entity's alpha

    @property
    def confidence(self) -> float:
        return self.score * self.iou


def coco_categories() -> list[str]:
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    return list(MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"])


def _tiny_model(min_score: float, size: int, detections: int):
    """A miniature Mask R-CNN: 4-level conv backbone with 32 channels, same heads as R50-FPN."""
    import torch
    from torch import nn
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor

    class Backbone(nn.Module):
        out_channels = 32

        def __init__(self):
            super().__init__()
            chans = [3, 16, 32, 32, 32]
            self.stages = nn.ModuleList(
                nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 3, stride=4 if i == 0 else 2, padding=1), nn.ReLU())
                for i in range(4)
            )
            self.lateral = nn.ModuleList(nn.Conv2d(c, 32, 1) for c in chans[1:])

        def forward(self, x: torch.Tensor):
            feats = OrderedDict()
            for i, (stage, lat) in enumerate(zip(self.stages, self.lateral)):
                x = stage(x)
                feats[str(i)] = lat(x)
            return feats

    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops import MultiScaleRoIAlign

    anchors = AnchorGenerator(sizes=((16,), (32,), (64,), (128,)), aspect_ratios=((0.5, 1.0, 2.0),) * 4)
    names = ["0", "1", "2", "3"]
    return MaskRCNN(
        Backbone(), num_classes=None, min_size=size, max_size=size, rpn_anchor_generator=anchors,
        box_roi_pool=MultiScaleRoIAlign(names, 7, 2), mask_roi_pool=MultiScaleRoIAlign(names, 14, 2),
        box_head=TwoMLPHead(32 * 7 * 7, 64), box_predictor=FastRCNNPredictor(64, 91),
        mask_head=MaskRCNNHeads(32, (32, 32), 1), mask_predictor=MaskRCNNPredictor(32, 32, 91),
        box_score_thresh=min_score, box_detections_per_img=detections,
    )


def _max_size(size: int) -> int:
    return max(size, 1333 * size // 800)  # torchvision's ratio of max_size to min_size


def build_model(arch: str, min_score: float = 0.05, size: int = 800, detections: int = DETECTIONS):
    """The network of ``arch`` with random weights (no download)."""
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    if arch == "r50-fpn":
        return maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91, box_score_thresh=min_score,
                                     min_size=size, max_size=_max_size(size), box_detections_per_img=detections)
    if arch == "tiny":
        return _tiny_model(min_score, size, detections)
    raise ValueError(f"unknown detector architecture {arch!r}; choose one of {', '.join(ARCHS)}.")


def weights_id(weights: str) -> str:
    """Provenance of a weights argument: ``official`` or the file's name and content hash."""
    if weights == OFFICIAL:
        return "torchvision:MaskRCNN_ResNet50_FPN_Weights.COCO_V1"
    h = hashlib.sha256()
    with open(weights, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"{Path(weights).name}@{h.hexdigest()[:12]}"


def load_detector(weights: str, arch: str = "r50-fpn", min_score: float = 0.05, size: int = 800, detections: int = DETECTIONS):
    """The detector in eval mode; :class:`WeightsMissing` (one sentence) when the file is absent."""
    import torch

    if weights == OFFICIAL:
        if arch != "r50-fpn":
            raise ValueError("--detector-weights official exists only for --detector-arch r50-fpn.")
        from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights, maskrcnn_resnet50_fpn

        try:
            model = maskrcnn_resnet50_fpn(weights=MaskRCNN_ResNet50_FPN_Weights.COCO_V1, box_score_thresh=min_score, min_size=size,
                                          max_size=_max_size(size), box_detections_per_img=detections)
        except (OSError, RuntimeError) as e:  # offline, or a broken download in torch's cache
            raise WeightsMissing(f"could not download {R50_URL} ({e}); download it by hand and pass its path to --detector-weights.") from None
        return model.eval()
    path = Path(weights)
    if not path.is_file():
        raise WeightsMissing(
            f"Mask R-CNN weights {path} not found: download {R50_URL} (torchvision's COCO model) to that path, "
            "or pass --detector-weights official when online."
        )
    model = build_model(arch, min_score, size, detections)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a file that is not a checkpoint
        raise WeightsMissing(f"{path} is not a readable PyTorch checkpoint ({type(e).__name__}); download {R50_URL} again.") from None
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise ValueError(f"{path} does not hold {arch} Mask R-CNN weights ({first}); check --detector-arch.") from None
    return model.eval()


def over_neutral(rgba: np.ndarray) -> np.ndarray:
    """The entity composited over flat grey: what the detector sees."""
    a = rgba[..., 3:].astype(np.float32) / 255.0
    return np.clip(rgba[..., :3] * a + NEUTRAL * (1.0 - a), 0, 255).astype(np.uint8)


def best_detection(labels: list[str], scores: np.ndarray, masks: np.ndarray, alpha: np.ndarray) -> Detection | None:
    """The detection that is the entity: highest score x soft IoU of its mask with the alpha.

    ``masks``: (N, H, W) probabilities in [0, 1]; ``alpha``: (H, W) uint8.
    """
    if len(labels) == 0:
        return None
    a = alpha.astype(np.float32)[None] / 255.0
    inter = np.minimum(masks, a).sum(axis=(1, 2))
    union = np.maximum(masks, a).sum(axis=(1, 2))
    iou = inter / np.maximum(union, 1e-6)
    conf = scores * iou
    i = int(np.argmax(conf))
    return Detection(labels[i], float(scores[i]), float(iou[i]))


def model_input_size(h: int, w: int, model) -> tuple[int, int]:
    """(h, w) the model's own transform would resize to (short side to its min_size, long side at
    most its max_size), never larger than the image. Torchvision pastes every mask back at the size
    it was given, so feeding this size instead of a 6 MP original keeps 100 masks at ~0.1 GB, not 2.4 GB."""
    t = getattr(model, "transform", None)
    short, long = (min(t.min_size), t.max_size) if t is not None else (800, 1333)
    scale = min(1.0, short / min(h, w), long / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def detect(model, images: list[np.ndarray], alphas: list[np.ndarray],
           allowed: list[set[str] | None] | None = None) -> list[Detection | None]:
    """Run ``model`` on a batch of RGB images; the best detection of each (or None).

    Images and alphas are first brought to the model's input size (:func:`model_input_size`),
    where masks are compared. ``allowed``: per image, the COCO labels it may be (a source that
    states its super-category: P3M is human), or None for any.
    """
    import cv2
    import torch

    names = coco_categories()
    sized = [model_input_size(*im.shape[:2], model) for im in images]
    images = [im if im.shape[:2] == hw else cv2.resize(im, hw[::-1], interpolation=cv2.INTER_AREA) for im, hw in zip(images, sized)]
    alphas = [a if a.shape == hw else cv2.resize(a, hw[::-1], interpolation=cv2.INTER_AREA) for a, hw in zip(alphas, sized)]
    device = next(model.parameters()).device  # the model's device (--device): masks come back to the CPU
    tensors = [torch.from_numpy(np.ascontiguousarray(im)).to(device).permute(2, 0, 1).float().div(255.0) for im in images]
    with torch.inference_mode():
        outputs = [{k: v.cpu() for k, v in o.items()} for o in model(tensors)]
    results = []
    for k, (out, alpha) in enumerate(zip(outputs, alphas)):
        labels = [names[i] for i in out["labels"].tolist()]
        keep = [j for j, label in enumerate(labels) if allowed is None or allowed[k] is None or label in allowed[k]]
        masks = out["masks"][keep, 0].numpy() if keep else np.zeros((0, *alpha.shape), np.float32)
        results.append(best_detection([labels[j] for j in keep], out["scores"][keep].numpy(), masks, alpha))
    return results
