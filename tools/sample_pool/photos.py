"""Real photographs of the sample pool: hand-drawn trimaps, closed-form alpha, foreground.

A trimap here is drawn the way one draws it in an image editor: trace the subject's
outline (fill = definite foreground) and paint over the outline with a brush whose radius
changes along it (wide over hair and fur, narrow over hard edges; the painted band is the
unknown region). Each outline below was traced by hand on a 2-3x enlarged view of the
photograph with a pixel grid; points outside the frame close the shape along the image
border, where the brush radius is 0 because the frame is not an edge of the subject.

The alpha is then solved by pymatting's closed-form matting (Levin et al., the paper's
[17]) and the foreground colour by its multi-level foreground estimation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

FG, UNKNOWN, BG = 255, 128, 0


@dataclass(frozen=True)
class Photo:
    name: str  # scikit-image data function
    category: str
    supercategory: str
    attributes: dict = field(default_factory=dict)
    # closed outline, (x, y, brush radius in px), in the photograph's pixel grid
    outline: tuple[tuple[int, int, int], ...] = ()
    credit: str = ""
    licence: str = ""


PHOTOS = (
    Photo(
        "astronaut", "woman", "human", {"gender": "female", "age": "adult", "clothes": "spacesuit"},
        outline=(
            (15, 530, 0), (18, 470, 6), (22, 400, 6), (30, 340, 6), (45, 290, 6), (60, 255, 6),
            (90, 225, 6), (112, 205, 6), (120, 185, 6), (135, 162, 6), (160, 151, 6), (182, 150, 7),
            (183, 135, 9), (175, 122, 12), (162, 108, 14), (154, 90, 15), (154, 65, 15), (162, 48, 15),
            (178, 32, 15), (198, 21, 15), (222, 15, 15), (248, 15, 15), (270, 22, 15), (287, 36, 15),
            (298, 55, 15), (301, 78, 15), (299, 100, 15), (293, 118, 13), (284, 132, 11), (276, 148, 8),
            (262, 172, 6), (282, 186, 6), (300, 205, 6), (318, 225, 6), (338, 240, 6), (350, 268, 6),
            (357, 300, 6), (362, 338, 7), (385, 344, 7), (420, 348, 7), (452, 364, 7), (478, 390, 7),
            (495, 420, 7), (506, 450, 8), (530, 470, 0), (530, 530, 0),
        ),
        credit="Eileen Collins, NASA Great Images database, via scikit-image (skimage.data.astronaut)",
        licence="Public domain (no known copyright restrictions)",
    ),
    Photo(
        "chelsea", "cat", "animal", {"color": "brown"},
        outline=(
            (-20, -20, 0), (402, -20, 0), (400, 2, 10), (386, 30, 10), (371, 55, 11), (361, 78, 12),
            (358, 100, 14), (360, 125, 14), (356, 150, 14), (350, 175, 15), (338, 200, 16),
            (323, 228, 16), (312, 255, 16), (305, 280, 16), (300, 320, 0), (-20, 320, 0),
        ),
        credit="Chelsea the cat, photograph by Stefan van der Walt, via scikit-image (skimage.data.chelsea)",
        licence="CC0-1.0",
    ),
    Photo(
        "coffee", "cup", "object", {"color": "brown"},
        outline=(
            (175, 75, 5), (185, 45, 5), (210, 28, 5), (250, 18, 5), (290, 17, 5), (330, 22, 5),
            (370, 35, 5), (395, 50, 5), (402, 66, 5), (416, 64, 6), (426, 76, 6), (421, 102, 5),
            (445, 125, 6), (468, 160, 6), (480, 200, 6), (478, 250, 6), (465, 290, 6), (440, 325, 6),
            (405, 355, 6), (360, 378, 6), (310, 390, 6), (260, 390, 6), (210, 380, 6), (160, 360, 6),
            (120, 330, 6), (92, 295, 6), (78, 255, 6), (80, 210, 6), (95, 165, 6), (120, 130, 6),
            (150, 105, 6), (172, 95, 5),
        ),
        credit="Coffee cup, photograph by Rachel Michetti (Pikolo Espresso Bar), via scikit-image (skimage.data.coffee)",
        licence="CC0-1.0",
    ),
)


def load(photo: Photo) -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(getattr(data, photo.name)()[:, :, :3])


def draw_trimap(shape: tuple[int, int], outline) -> np.ndarray:
    """Fill the outline as foreground, then paint the unknown band along it."""
    trimap = np.zeros(shape, np.uint8)
    pts = np.array([(x, y) for x, y, _ in outline], np.int32)
    cv2.fillPoly(trimap, [pts], FG)
    n = len(outline)
    for i in range(n):
        (x0, y0, r0), (x1, y1, r1) = outline[i], outline[(i + 1) % n]
        r = min(r0, r1)  # a segment touching the frame (radius 0) paints nothing
        if r > 0:
            cv2.line(trimap, (x0, y0), (x1, y1), UNKNOWN, 2 * r + 1)
    return trimap


def solve(image: np.ndarray, trimap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form alpha (pymatting) and foreground; uint8 (H, W) and (H, W, 3)."""
    from pymatting import estimate_alpha_cf

    from refmatte.foreground import estimate_foreground

    alpha = estimate_alpha_cf(image.astype(np.float64) / 255.0, trimap.astype(np.float64) / 255.0)
    a8 = np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)
    return a8, estimate_foreground(image, a8)
