"""Identifiable frontal faces, found with OpenCV's shipped Haar cascades (paper 3.1 filter)."""

from __future__ import annotations

import cv2
import numpy as np

FACE_CASCADE = "haarcascade_frontalface_default.xml"
EYE_CASCADE = "haarcascade_eye.xml"
_DETECT_LONG_SIDE = 512  # px: detection runs on a copy downscaled to this long side
# Pyramid step and overlapping detections a face needs; a face must also show an eye in its
# upper part. The face cascade alone (step 1.1, 5 neighbours) fired on 7 of 30
# noise-textured 1024 px foregrounds; with the eye check none of 20 fired, every face of
# scikit-image's astronaut was found from 128 to 2048 px, and detection takes about 60 ms
# on a 1024 px entity (170 ms at 800 px, step 1.1).
SCALE_STEP = 1.2
MIN_NEIGHBORS = 5
_EYE_ROI_PX = 96  # face crops are upscaled to this width so the 20 px eye cascade can fire
_cascades: dict[str, cv2.CascadeClassifier] = {}


def _cascade(name: str) -> cv2.CascadeClassifier:
    if name not in _cascades:
        path = cv2.data.haarcascades + name
        c = cv2.CascadeClassifier(path)
        if c.empty():
            raise RuntimeError(f"OpenCV's cascade {path} is missing; install opencv-python-headless<5.")
        _cascades[name] = c
    return _cascades[name]


def _has_eye(gray: np.ndarray, x: int, y: int, w: int, h: int) -> bool:
    roi = gray[y : y + (5 * h) // 8, x : x + w]
    if w < _EYE_ROI_PX:
        f = _EYE_ROI_PX / w
        roi = cv2.resize(roi, (round(roi.shape[1] * f), round(roi.shape[0] * f)), interpolation=cv2.INTER_LINEAR)
    return len(_cascade(EYE_CASCADE).detectMultiScale(roi, scaleFactor=1.1, minNeighbors=3)) > 0


def find_frontal_faces(rgb: np.ndarray, alpha: np.ndarray, min_face_fraction: float = 0.05, scale_step: float = SCALE_STEP) -> list[tuple[int, int, int, int]]:
    """Identifiable frontal faces lying on the entity, as ``(x, y, w, h)`` in ``rgb``'s pixels.

    Parameters
    ----------
    rgb : uint8 (H, W, 3) image or foreground.
    alpha : uint8 (H, W) matte; pixels with alpha < 128 are greyed out before detection so
        faces in a photograph's background do not count.
    min_face_fraction : faces smaller than this share of the image's short side are too
        small to identify a person and are ignored (never below the cascade's 24 px).
    scale_step : pyramid step; the annotators use the finer 1.1 (slower, finds more faces).

    A face counts when the frontal-face cascade finds it with :data:`MIN_NEIGHBORS`
    support and the eye cascade finds an eye in its upper part.
    """
    h, w = alpha.shape
    scale = min(1.0, _DETECT_LONG_SIDE / max(h, w))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    gray = np.where(alpha >= 128, gray, np.uint8(128))
    if scale < 1.0:
        gray = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    side = max(24, round(min_face_fraction * min(gray.shape)))
    faces = _cascade(FACE_CASCADE).detectMultiScale(gray, scaleFactor=scale_step, minNeighbors=MIN_NEIGHBORS, minSize=(side, side))
    found = [tuple(map(int, f)) for f in faces if _has_eye(gray, *map(int, f))]
    return [tuple(round(v / scale) for v in f) for f in found]


def count_frontal_faces(rgb: np.ndarray, alpha: np.ndarray, min_face_fraction: float = 0.05) -> int:
    """How many faces :func:`find_frontal_faces` finds (the ingest filter's measure)."""
    return len(find_frontal_faces(rgb, alpha, min_face_fraction))
