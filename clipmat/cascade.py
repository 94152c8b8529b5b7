"""A referring matte with no training: phrase -> box -> mask -> trimap -> alpha.

The chain Matting-Anything and Matte-Anything use, from Hugging Face transformers' models:
Grounding DINO grounds the phrase (the highest-scoring box above ``box_threshold``; it
fills MDETR's place in Table 2), SAM turns the box into a mask, the mask's edge grown and
shrunk by ``trimap_band`` of the image's long side becomes a trimap's unknown band, and
ViTMatte fills the band with alpha. Each model loads with ``from_pretrained`` from its
hub id (when online) or a local folder holding the model and its processor (offline; the
tests build tiny random ones that way), so nothing here is specific to the weights.

When no box scores above the threshold the phrase is said to match nothing
(:class:`NoMatch`): ``clipmat predict`` writes nothing, ``clipmat eval`` scores an empty
matte and counts it, instead of returning the largest object as such cascades often do.
Grounding DINO reads a phrase as a whole; relational phrases ("the left lion") are
grounded by what the detector makes of them, which is the weakness Table 2 measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from clipmat.build import WeightsError
from clipmat.config import ConfigError, FamilyConfig

HUB = {"detector": "IDEA-Research/grounding-dino-tiny", "segmenter": "facebook/sam-vit-base",
       "matter": "hustvl/vitmatte-small-composition-1k"}


@dataclass(frozen=True)
class CascadeConfig(FamilyConfig):
    family: str = "cascade"
    detector: str = HUB["detector"]  # Grounding DINO: hub id or local folder (model + processor)
    segmenter: str = HUB["segmenter"]  # SAM
    matter: str = HUB["matter"]  # ViTMatte
    box_threshold: float = 0.35  # Grounding DINO's box score needed for a match (its authors' default)
    text_threshold: float = 0.25
    trimap_band: float = 0.01  # half-width of the unknown band, as a fraction of the image's long side
    pre_context: bool = False  # the detector reads the bare phrase, not a matting template
    image_size: int = 1024  # long side the chain runs at (predict --long-side overrides); the alpha is resized back

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("box_threshold", "text_threshold", "trimap_band"):
            if not 0 < getattr(self, name) < 1:
                raise ConfigError(f"model config {self.name}: {name} must be between 0 and 1")

    @property
    def needs(self) -> str:
        return "no training; Grounding DINO, SAM and ViTMatte weights (hub ids online, or local folders)"


class NoMatch(ValueError):
    """The phrase grounds no box above the threshold; the message says so with the best score."""


def _transformers():
    try:
        import transformers
    except ImportError:
        raise ConfigError("the cascade needs Hugging Face transformers: pip install 'refmatte[baselines]'") from None
    return transformers


def _load(kind: str, source: str, model_class: str, processor_class: str, device):
    tf = _transformers()
    local = Path(source).expanduser()
    if local.exists() and not (local / "config.json").is_file():
        raise WeightsError(f"{kind} folder {local} has no config.json: give a folder written by save_pretrained "
                           f"(model and processor), or the hub id {HUB[kind]} when online")
    where = str(local) if local.exists() else source
    try:
        model = getattr(tf, model_class).from_pretrained(where).to(device).eval()
        processor = getattr(tf, processor_class).from_pretrained(where)
    except Exception as e:  # offline, missing files, another architecture: all end here
        raise WeightsError(f"could not load the {kind} {source} ({type(e).__name__}: {str(e).splitlines()[0]}); "
                           f"offline, download {HUB[kind]} on a machine with internet and name its folder in a "
                           "cascade config (README, \"Table 2's other models\"; HF_HUB_OFFLINE=1 skips the "
                           "connection retries)") from None
    return model, processor


class Cascade:
    """Grounding DINO -> SAM -> ViTMatte (module doc). Not an ``nn.Module``: nothing in it trains."""

    def __init__(self, config: CascadeConfig, device: str | torch.device = "cpu"):
        self.config, self.device = config, torch.device(device)
        self.detector, self.detector_processor = _load("detector", config.detector, "GroundingDinoForObjectDetection",
                                                       "GroundingDinoProcessor", self.device)
        self.segmenter, self.segmenter_processor = _load("segmenter", config.segmenter, "SamModel", "SamProcessor",
                                                         self.device)
        self.matter, self.matter_processor = _load("matter", config.matter, "VitMatteForImageMatting",
                                                   "VitMatteImageProcessor", self.device)

    def to(self, device) -> "Cascade":
        self.device = torch.device(device)
        for m in (self.detector, self.segmenter, self.matter):
            m.to(self.device)
        return self

    @torch.inference_mode()
    def box(self, image: np.ndarray, phrase: str) -> tuple[np.ndarray, float]:
        """(x0, y0, x1, y1) in pixels of the best box for ``phrase``, and its score; NoMatch below the threshold."""
        text = phrase.strip().lower().rstrip(".") + "."  # Grounding DINO's phrase format
        p = self.detector_processor(images=image, text=text, return_tensors="pt", truncation=True,  # a long phrase is cut
                                    max_length=self.detector.config.max_text_len).to(self.device)  # to what it reads
        outputs = self.detector(**p)
        h, w = image.shape[:2]
        found = self.detector_processor.post_process_grounded_object_detection(
            outputs, p["input_ids"], threshold=self.config.box_threshold, text_threshold=self.config.text_threshold,
            target_sizes=[(h, w)])[0]
        if len(found["scores"]) == 0:
            best = float(outputs.logits.sigmoid().max()) if outputs.logits.numel() else 0.0
            raise NoMatch(f"nothing in the image matches {phrase!r}: the best box scores {best:.2f}, below the "
                          f"threshold {self.config.box_threshold}")
        i = int(found["scores"].argmax())
        x0, y0, x1, y1 = found["boxes"][i].float().cpu().numpy()
        box = np.array([np.clip(x0, 0, w), np.clip(y0, 0, h), np.clip(x1, 0, w), np.clip(y1, 0, h)], np.float32)
        return box, float(found["scores"][i])

    @torch.inference_mode()
    def mask(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """SAM's mask (H, W) bool for the box."""
        p = self.segmenter_processor(images=image, input_boxes=[[box.tolist()]], return_tensors="pt").to(self.device)
        out = self.segmenter(pixel_values=p["pixel_values"], input_boxes=p["input_boxes"], multimask_output=False)
        masks = self.segmenter_processor.image_processor.post_process_masks(
            out.pred_masks.cpu(), p["original_sizes"].cpu(), p["reshaped_input_sizes"].cpu())
        return masks[0][0, 0].numpy().astype(bool)

    def trimap(self, mask: np.ndarray) -> np.ndarray:
        """uint8 trimap (0, 128, 255): the mask's edge grown and shrunk by the band."""
        r = max(1, round(self.config.trimap_band * max(mask.shape)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        m = mask.astype(np.uint8)
        trimap = np.full(mask.shape, 128, np.uint8)
        trimap[cv2.dilate(m, kernel) == 0] = 0
        trimap[cv2.erode(m, kernel) == 1] = 255
        return trimap

    @torch.inference_mode()
    def matte(self, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
        """ViTMatte's alpha (H, W) float32 in [0, 1]; known regions keep the trimap's values."""
        h, w = image.shape[:2]
        p = self.matter_processor(images=image, trimaps=trimap, return_tensors="pt").to(self.device)
        alpha = self.matter(pixel_values=p["pixel_values"]).alphas[0, 0, :h, :w].float().cpu().numpy()
        alpha = np.where(trimap == 0, 0.0, np.where(trimap == 255, 1.0, alpha))
        return np.clip(alpha, 0, 1).astype(np.float32)

    def predict(self, image: np.ndarray, phrase: str, long_side: int | None = None) -> np.ndarray:
        """The alpha (H, W) float32 of the object ``phrase`` names in RGB uint8 ``image``; NoMatch if none.

        The chain runs with the long side at most ``long_side`` (default the config's ``image_size``:
        ViTMatte's global attention grows with the square of the pixels) and the alpha is resized back."""
        h, w = image.shape[:2]
        scale = min(1.0, (long_side or self.config.image_size) / max(h, w))
        small = image if scale == 1.0 else cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                      interpolation=cv2.INTER_AREA)
        box, _ = self.box(small, phrase)
        alpha = self.matte(small, self.trimap(self.mask(small, box)))
        return alpha if scale == 1.0 else np.clip(cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)
