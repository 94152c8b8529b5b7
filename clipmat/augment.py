"""Background replacement for composites: the training set's few backgrounds must not be learnt.

A composite is I = sum_k a_k F_k + (1 - sum_k a_k) B, and the manifest holds every a_k
of the image. Replacing B by a new texture B' gives sum_k a_k I + (1 - sum_k a_k) B'
exactly where the mattes are 0 or 1, and approximately in their soft edges (where I
still carries a little of B). Without it, a model trained on a handful of backgrounds
learns "not those backgrounds" instead of the objects, and marks an unseen background
as foreground (measured: tools/learning_check.py, the note on the issue).
"""

from __future__ import annotations

import cv2
import numpy as np


def random_background(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """RGB uint8 (H, W, 3): a smooth blend of two random colours plus a random-scale grey texture."""
    def field(cells: int, channels: int) -> np.ndarray:
        small = rng.random((cells, max(1, cells * width // height), channels)).astype(np.float32)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).reshape(height, width, channels)

    a, b = rng.random(3).astype(np.float32), rng.random(3).astype(np.float32)
    mix = field(int(rng.integers(2, 8)), 1)
    base = a * mix + b * (1 - mix)
    texture = field(int(rng.integers(8, max(9, min(height, width) // 2))), 1) - 0.5
    image = base + float(rng.uniform(0.1, 0.9)) * texture
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def swap_background(image: np.ndarray, union: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with its background replaced where ``union`` (H, W) in [0, 1] is below 1."""
    bg = random_background(*image.shape[:2], rng).astype(np.float32)
    u = union[..., None]
    return np.clip(u * image + (1 - u) * bg + 0.5, 0, 255).astype(np.uint8)
