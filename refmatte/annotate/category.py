"""Category of each entity (paper 3.1): hand label > source label > Mask R-CNN.

- hand: ``<out>/hand_labels.csv`` (see :mod:`refmatte.annotate.hand`) wins over all;
- source: the dataset's own label when it is a vocabulary name or alias (SIM classes,
  ``--labels`` files, the sample pool's ground truth);
- detector: Mask R-CNN on the entity over grey, brought to the model's input size; the
  detection whose mask best matches the alpha (score x IoU) gives a COCO label, mapped to
  the vocabulary. When the source states the super-category (P3M: human, AM-2k: animal),
  only labels of that super-category are considered. Confidence below
  ``REVIEW_BELOW``, an unmapped label or no detection sets ``needs_review``.

Without detector weights the entities that would need the detector are marked
``needs_review`` and the summary says how to provide the weights.
"""

from __future__ import annotations

from pathlib import Path

from refmatte.annotate import detector as det
from refmatte.annotate.base import Annotator, WeightsMissing
from refmatte.annotate.hand import read_hand_labels
from refmatte.imaging import read_rgba
from refmatte.vocabulary import from_coco, lookup, vocabulary, vocabulary_hash

VERSION = 2  # 2: the detector sees the model's input size and the source's super-category
REVIEW_BELOW = 0.5  # detector confidence (score x IoU) below which a person should look


def coco_labels_of(supercategory: str | None) -> set[str] | None:
    """COCO labels whose vocabulary entry is of ``supercategory`` (a source that states it, such as
    P3M's humans and AM-2k's animals, constrains the detector), or None for any."""
    if supercategory is None:
        return None
    return {e.coco for e in vocabulary().values() if e.coco and e.supercategory == supercategory}


class CategoryAnnotator(Annotator):
    name = "category"
    columns = ("category", "supercategory", "category_source", "category_confidence", "detector_label", "needs_review")
    batch_size = 4

    def __init__(self, out: Path, weights: str | None = None, arch: str = "r50-fpn", min_score: float = 0.05, size: int = 800,
                 device: str = "cpu"):
        self.device = device  # not part of the key: the same weights give the same labels on any device
        self.batch_size = 1 if device == "cpu" else 4  # one 6 MP entity at a time keeps a CPU process under 2 GB
        self.hand_categories = {i: v["category"] for i, v in read_hand_labels(out).items() if "category" in v}
        self.weights, self.arch, self.min_score, self.size = weights, arch, min_score, size
        self.model = None
        self.detector_id = "none"
        self.waiting = 0  # entities left for a detector that was not given

    def prepare(self) -> None:
        if self.weights is not None:
            try:
                self.model = det.load_detector(self.weights, self.arch, self.min_score, self.size).to(self.device)
            except WeightsMissing as e:  # hand and source labels need no detector: they still apply
                self.warning = str(e)
                return
            self.detector_id = (f"{self.arch}:{det.weights_id(self.weights)} min_score={self.min_score} size={self.size} "
                                f"detections={det.DETECTIONS}")

    def provenance(self) -> str:
        return f"category/{VERSION} vocabulary={vocabulary_hash()}"

    def _route(self, row: dict) -> tuple[str, str]:
        if row["entity_id"] in self.hand_categories:
            return "hand", self.hand_categories[row["entity_id"]]
        entry = lookup(row["source_label"])
        if entry is not None:
            return "source", entry.name
        return "detector", self.detector_id

    def key(self, row: dict) -> str:
        route, what = self._route(row)
        return f"{self.provenance()} {route}={what}"

    def run(self, rows: list[dict], out: Path) -> list[dict]:
        results: list[dict | None] = [None] * len(rows)
        need = []
        for i, row in enumerate(rows):
            route, name = self._route(row)
            if route != "detector":
                entry = vocabulary()[name]
                results[i] = dict(category=entry.name, supercategory=entry.supercategory, category_source=route,
                                  category_confidence=1.0, detector_label=None, needs_review=False)
            else:
                need.append(i)
        if need and self.model is None:
            self.waiting += len(need)
            for i in need:
                results[i] = dict(category=None, supercategory=None, category_source=None, category_confidence=None,
                                  detector_label=None, needs_review=True)
        elif need:
            rgba = [read_rgba(out / rows[i]["rgba_path"]) for i in need]
            found = det.detect(self.model, [det.over_neutral(x) for x in rgba], [x[..., 3] for x in rgba],
                               [coco_labels_of(rows[i].get("source_supercategory")) for i in need])
            for i, d in zip(need, found):
                entry = from_coco(d.label) if d else None
                results[i] = dict(
                    category=entry and entry.name, supercategory=entry and entry.supercategory,
                    category_source="detector" if entry else None, category_confidence=d and d.confidence,
                    detector_label=d and d.label, needs_review=entry is None or d.confidence < REVIEW_BELOW,
                )
        return results
