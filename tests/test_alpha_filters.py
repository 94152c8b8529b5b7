import cv2
import numpy as np

from refmatte.alpha import alpha_stats
from refmatte.faces import count_frontal_faces
from refmatte.filters import FilterOptions, check_alpha, check_size


def disc(blur: float = 0.0, antialias: bool = False, size: int = 200) -> np.ndarray:
    a = np.zeros((size, size), np.uint8)
    cv2.circle(a, (size // 2, size // 2), size // 4, 255, -1, lineType=cv2.LINE_AA if antialias else cv2.LINE_8)
    return cv2.GaussianBlur(a, (0, 0), blur) if blur > 0 else a


def test_band_width_separates_hard_antialiased_and_soft_mattes():
    hard, aa, soft = alpha_stats(disc()), alpha_stats(disc(antialias=True)), alpha_stats(disc(3.0))
    assert hard["alpha_band_px"] == 0.0
    assert 0.5 < aa["alpha_band_px"] < 2.0
    assert soft["alpha_band_px"] > 4.0


def test_stats_of_a_known_matte():
    a = np.zeros((10, 20), np.uint8)
    a[2:6, 3:8] = 255
    a[2, 3] = 100
    s = alpha_stats(a)
    assert (s["bbox_x0"], s["bbox_y0"], s["bbox_x1"], s["bbox_y1"]) == (3, 2, 8, 6)
    assert s["alpha_area_fraction"] == 20 / 200
    assert s["alpha_opaque_fraction"] == 19 / 200
    assert s["alpha_semi_fraction"] == 1 / 20
    assert np.isclose(s["alpha_mean"], (19 * 255 + 100) / 255 / 200)


def test_empty_matte_has_no_box_and_is_rejected():
    s = alpha_stats(np.zeros((8, 8), np.uint8))
    assert s["bbox_x0"] is None and s["alpha_band_px"] == 0.0
    assert check_alpha(s, FilterOptions(), soft_edges=True)[0] == "alpha_empty"


def test_filters_in_order():
    opts = FilterOptions(min_side=100)
    assert check_size(99, 400, opts)[0] == "too_small" and check_size(100, 100, opts) is None
    assert check_alpha(alpha_stats(np.full((50, 50), 255, np.uint8)), opts, True)[0] == "alpha_full"
    assert check_alpha(alpha_stats(disc()), opts, soft_edges=True)[0] == "alpha_binary"
    assert check_alpha(alpha_stats(disc()), opts, soft_edges=False) is None
    assert check_alpha(alpha_stats(disc(2.0)), opts, soft_edges=True) is None


def test_faces_found_on_a_real_face_only_where_the_matte_is():
    from skimage import data

    face = cv2.resize(data.astronaut()[0:256, 128:384], (128, 128), interpolation=cv2.INTER_AREA)
    opaque = np.full((128, 128), 255, np.uint8)
    assert count_frontal_faces(face, opaque) == 1
    assert count_frontal_faces(face, np.zeros_like(opaque)) == 0  # face lies outside the entity
    flat = np.dstack([np.tile(np.linspace(0, 255, 128, dtype=np.uint8), (128, 1))] * 3)
    assert count_frontal_faces(flat, opaque) == 0
