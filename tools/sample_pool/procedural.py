"""Procedural transparent / meticulous entities and backgrounds for the sample pool.

Every generator is a pure function of a ``numpy.random.Generator`` (seeded by the caller
from the asset's name) and returns uint8 arrays, so a rebuild gives the same bytes. Shapes
are drawn at ``SS`` times the output size and area-averaged down: the anti-aliasing and
the semi-transparent bands are real coverage, not blur.

Entities return ``(rgb, alpha)`` with straight (not premultiplied) colour.
"""

from __future__ import annotations

import cv2
import numpy as np

SS = 4  # supersampling factor
SIZE = 512


def _down(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def fbm(rng: np.random.Generator, shape: tuple[int, int], octaves: int = 5, base: float = 64.0) -> np.ndarray:
    """Fractal noise in [0, 1]: blurred white noise summed over octaves (sigma halves)."""
    h, w = shape
    out = np.zeros(shape, np.float32)
    amp, total, sigma = 1.0, 0.0, base
    for _ in range(octaves):
        n = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
        n /= n.std() + 1e-8
        out += amp * n
        total += amp
        amp *= 0.55
        sigma /= 2.0
    out /= total
    return np.clip(0.5 + 0.25 * out, 0.0, 1.0)


def _finish(rgb: np.ndarray, alpha: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Downsample a supersampled straight-colour RGBA pair without dark fringes."""
    a = _down(alpha, size)
    premult = _down(rgb * alpha[..., None], size)
    colour = premult / np.maximum(a[..., None], 1e-6)
    colour[a <= 1e-6] = _down(rgb, size)[a <= 1e-6]
    return _to_u8(colour), _to_u8(a)


# ---------------------------------------------------------------------------- entities


def wine_glass(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An empty wine glass: thin clear body, stronger at the silhouette (Fresnel), highlights."""
    W, H = SIZE * SS, SIZE * SS
    cx = W // 2
    s = SS
    mask = np.zeros((H, W), np.uint8)
    bowl_top, bowl_bottom, bowl_r = 40 * s, 260 * s, 120 * s
    pts = []
    for y in range(bowl_top, bowl_bottom + 1, s):
        t = (y - bowl_top) / (bowl_bottom - bowl_top)
        r = bowl_r * (0.80 + 0.2 * np.sin(np.pi * min(t * 1.15, 1.0))) * np.sqrt(max(1e-4, 1 - max(0.0, t - 0.55) ** 2 / 0.2025))
        pts.append((cx + r, y))
    right = np.array(pts, np.float32)
    left = right.copy()
    left[:, 0] = 2 * cx - left[:, 0]
    bowl = np.concatenate([right, left[::-1]]).astype(np.int32)
    cv2.fillPoly(mask, [bowl], 255)
    cv2.rectangle(mask, (cx - 7 * s, bowl_bottom - 10 * s), (cx + 7 * s, 440 * s), 255, -1)
    cv2.ellipse(mask, (cx, 445 * s), (95 * s, 18 * s), 0, 0, 360, 255, -1)
    inside = mask > 0
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5) / s  # px at output scale
    alpha = np.where(inside, 0.10 + 0.65 * np.exp(-dist / 3.0), 0.0).astype(np.float32)
    # rim of the bowl and the wine line of light
    rim = np.zeros_like(mask)
    cv2.ellipse(rim, (cx, bowl_top + 2 * s), (int(bowl_r * 0.80), 12 * s), 0, 0, 360, 255, 3 * s)
    alpha = np.maximum(alpha, (rim > 0) * 0.75)
    hi = np.zeros((H, W), np.float32)
    cv2.ellipse(hi, (cx - 62 * s, 150 * s), (10 * s, 70 * s), 8, 0, 360, 1.0, -1)
    cv2.ellipse(hi, (cx + 75 * s, 130 * s), (4 * s, 40 * s), -6, 0, 360, 1.0, -1)
    hi = cv2.GaussianBlur(hi, (0, 0), 4 * s) * inside
    alpha = np.clip(alpha + 0.7 * hi, 0, 1)
    tint = 0.04 * fbm(rng, (H // s, W // s), 3, 16)
    rgb = np.empty((H, W, 3), np.float32)
    rgb[...] = (0.86, 0.91, 0.94)
    rgb += cv2.resize(tint, (W, H))[..., None]
    rgb = rgb * (1 - hi[..., None]) + hi[..., None]
    return _finish(np.clip(rgb, 0, 1), alpha, (SIZE, SIZE))


def smoke(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A plume of grey smoke rising from a thin source and widening upwards."""
    H, W = SIZE, SIZE
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    t = 1.0 - yy / H  # 0 at the bottom, 1 at the top
    centre = W / 2 + 40 * np.sin(t * 5.0 + rng.uniform(0, 6.28)) * t
    width = 12 + 150 * t ** 1.2
    envelope = np.exp(-(((xx - centre) / width) ** 2)) * np.clip(t * 6, 0, 1) * np.clip((1 - t) * 5, 0, 1)
    n = fbm(rng, (H, W), 6, 48)
    density = np.clip((n - 0.35) * 2.2, 0, 1) * envelope
    alpha = np.clip(density * 1.1, 0, 0.85).astype(np.float32)
    shade = 0.72 + 0.2 * fbm(rng, (H, W), 3, 24)
    rgb = np.dstack([shade, shade, shade * 1.02]).astype(np.float32)
    return _to_u8(np.clip(rgb, 0, 1)), _to_u8(alpha)


def dandelion(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A dandelion seed head ("clock"): hundreds of hair-thin filaments ending in tufts."""
    W = H = SIZE * SS
    s = SS
    alpha = np.zeros((H, W), np.float32)
    rgb = np.zeros((H, W, 3), np.float32)
    cx, cy, R = W // 2, 190 * s, 150 * s
    stem = np.zeros((H, W), np.float32)
    bend = rng.uniform(-25, 25) * s
    pts = np.array([(cx + bend * (k / 20) ** 2, cy + (H - cy) * k / 20) for k in range(21)], np.int32)
    cv2.polylines(stem, [pts], False, 1.0, 7 * s, cv2.LINE_AA)
    alpha = np.maximum(alpha, stem)
    rgb[stem > 0] = (0.38, 0.55, 0.22)
    hairs = np.zeros((H, W), np.float32)
    for _ in range(260):
        d = rng.standard_normal(3)
        d /= np.linalg.norm(d)
        length = R * rng.uniform(0.85, 1.0)
        tip = (int(cx + d[0] * length), int(cy + d[1] * length))
        cv2.line(hairs, (cx, cy), tip, rng.uniform(0.35, 0.7), 1 * s, cv2.LINE_AA)
        ang = np.arctan2(d[1], d[0])
        for k in range(9):  # the pappus: a fan of finer hairs at the tip
            a = ang + rng.uniform(-1.3, 1.3)
            ln = rng.uniform(10, 26) * s
            end = (int(tip[0] + np.cos(a) * ln), int(tip[1] + np.sin(a) * ln))
            cv2.line(hairs, tip, end, rng.uniform(0.25, 0.55), max(1, s // 2), cv2.LINE_AA)
    rgb[hairs > alpha] = (0.95, 0.95, 0.92)
    alpha = np.maximum(alpha, hairs)
    head = np.zeros((H, W), np.float32)  # the receptacle the seeds sit on
    cv2.circle(head, (cx, cy), 16 * s, 1.0, -1, cv2.LINE_AA)
    rgb[head > 0] = (0.72, 0.62, 0.40)
    alpha = np.maximum(alpha, head)
    return _finish(rgb, np.clip(alpha, 0, 1), (SIZE, SIZE))


def fishing_net(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A sagging knotted net hung from a rope: meticulous (thin strands, many holes)."""
    W = H = SIZE * SS
    s = SS
    alpha = np.zeros((H, W), np.float32)
    mesh = 26 * s
    x0, x1, top = 50 * s, 462 * s, 60 * s
    rows = 15
    nodes = []
    for r in range(rows):
        row = []
        for c in range(int((x1 - x0) / mesh) + 1):
            u = c / ((x1 - x0) / mesh)
            x = x0 + (x1 - x0) * u + (r % 2) * mesh / 2
            sag = 60 * s * np.sin(np.pi * u) * (r / rows)
            jitter = rng.normal(0, 1.5 * s, 2)
            row.append((x + jitter[0] - r * 3 * s * (u - 0.5) * 2, top + r * mesh * 0.95 + sag + jitter[1]))
        nodes.append(row)
    thick = max(1, int(1.6 * s))
    for r in range(rows - 1):
        for c in range(len(nodes[r])):
            a = np.int32(nodes[r][c])
            for dc in (-1, 0) if r % 2 == 0 else (0, 1):
                if 0 <= c + dc < len(nodes[r + 1]):
                    cv2.line(alpha, tuple(a), tuple(np.int32(nodes[r + 1][c + dc])), 1.0, thick, cv2.LINE_AA)
            cv2.circle(alpha, tuple(a), int(2.5 * s), 1.0, -1, cv2.LINE_AA)
    cv2.line(alpha, (x0 - 20 * s, top), (x1 + 30 * s, top), 1.0, 5 * s, cv2.LINE_AA)
    rgb = np.empty((H, W, 3), np.float32)
    rgb[...] = (0.80, 0.70, 0.48)
    rgb += (fbm(rng, (H // s, W // s), 3, 8)[..., None].repeat(s, 0).repeat(s, 1) - 0.5) * 0.15
    return _finish(np.clip(rgb, 0, 1), alpha, (SIZE, SIZE))


def soap_bubble(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A soap bubble: nearly clear centre, iridescent rim, two window highlights."""
    H = W = SIZE
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    cx, cy, R = W / 2, H / 2, 200.0
    r = np.hypot(xx - cx, yy - cy) / R
    cover = np.clip((1.0 - r) * R + 0.5, 0, 1)  # exact anti-aliased disc coverage
    rr = np.minimum(r, 1.0)
    alpha = (0.06 + 0.75 * rr ** 10) * cover
    ang = np.arctan2(yy - cy, xx - cx)
    phase = 6.0 * rr + 1.5 * np.sin(ang * 2 + rng.uniform(0, 6.28)) + 3 * fbm(rng, (H, W), 3, 40)
    rgb = np.dstack([0.75 + 0.25 * np.sin(phase), 0.75 + 0.25 * np.sin(phase + 2.1), 0.78 + 0.22 * np.sin(phase + 4.2)])
    hi = np.zeros((H, W), np.float32)
    cv2.ellipse(hi, (int(cx - 80), int(cy - 95)), (38, 22), -35, 0, 360, 1.0, -1, cv2.LINE_AA)
    cv2.ellipse(hi, (int(cx + 110), int(cy + 90)), (14, 8), -35, 0, 360, 0.6, -1, cv2.LINE_AA)
    hi = cv2.GaussianBlur(hi, (0, 0), 3)
    alpha = np.clip(alpha + hi * 0.85, 0, 1) * cover
    rgb = rgb * (1 - hi[..., None]) + hi[..., None]
    return _to_u8(np.clip(rgb, 0, 1)), _to_u8(alpha)


def plastic_bag(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A thin white carrier bag with handles: translucent film, creases, opaque-ish folds."""
    W = H = SIZE * SS
    s = SS
    mask = np.zeros((H, W), np.uint8)
    body = np.array([(120, 170), (392, 170), (420, 440), (400, 470), (112, 470), (92, 440)], np.int32) * s
    cv2.fillPoly(mask, [body], 255, cv2.LINE_AA)
    for cx in (190, 322):  # handles, each a loop with a hole
        cv2.ellipse(mask, (cx * s, 175 * s), (48 * s, 120 * s), 0, 180, 360, 255, 26 * s, cv2.LINE_AA)
    m = mask.astype(np.float32) / 255.0
    dist = cv2.distanceTransform((mask > 127).astype(np.uint8), cv2.DIST_L2, 5) / s
    n = fbm(rng, (H // s, W // s), 5, 20)
    creases = cv2.resize((np.abs(n - 0.5) < 0.03).astype(np.float32), (W, H))
    film = 0.32 + 0.35 * cv2.resize(n, (W, H)) + 0.3 * creases + 0.35 * np.exp(-dist / 3.0)
    alpha = np.clip(film, 0, 0.92) * m
    shade = 0.88 + 0.1 * cv2.resize(n, (W, H))
    rgb = np.dstack([shade, shade, shade * 0.99])
    return _finish(np.clip(rgb, 0, 1).astype(np.float32), alpha.astype(np.float32), (SIZE, SIZE))


ENTITIES = {
    "wine_glass": wine_glass,
    "smoke": smoke,
    "dandelion": dandelion,
    "fishing_net": fishing_net,
    "soap_bubble": soap_bubble,
    "plastic_bag": plastic_bag,
}

# ------------------------------------------------------------------------- backgrounds

BG_SIZE = (640, 480)  # width, height


def _grid() -> tuple[np.ndarray, np.ndarray]:
    w, h = BG_SIZE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return xx / w, yy / h


def sky(rng: np.random.Generator) -> np.ndarray:
    """Blue sky with soft cumulus clouds."""
    x, y = _grid()
    base = np.dstack([0.35 + 0.3 * y, 0.55 + 0.25 * y, 0.92 + 0.05 * y])
    cloud = np.clip((fbm(rng, y.shape, 6, 60) - 0.5) * 3.0, 0, 1)[..., None]
    return _to_u8(np.clip(base * (1 - cloud) + 0.97 * cloud, 0, 1))


def sunset(rng: np.random.Generator) -> np.ndarray:
    """Sunset gradient over a dark hill line."""
    x, y = _grid()
    top, bottom = np.array([0.25, 0.2, 0.5]), np.array([1.0, 0.6, 0.3])
    img = top * (1 - y[..., None]) + bottom * y[..., None]
    ridge = 0.72 + 0.08 * np.sin(x * 7 + rng.uniform(0, 6.28)) + 0.05 * (fbm(rng, y.shape, 3, 30)[0] - 0.5)
    land = (y > ridge)[..., None]
    return _to_u8(np.where(land, np.array([0.12, 0.1, 0.12]), img))


def wood(rng: np.random.Generator) -> np.ndarray:
    """Wooden floor boards: ring-like grain along the boards, dark seams."""
    x, y = _grid()
    w, h = BG_SIZE
    board = np.floor(y * 6)
    warp = fbm(rng, (h, w), 4, 30)
    grain = 0.5 + 0.5 * np.sin((x * 40 + warp * 12 + board * 3.7) * np.pi)
    tone = (0.55 + 0.1 * grain + 0.08 * (board % 3 - 1) / 1.0)[..., None]
    img = tone * np.array([1.0, 0.72, 0.45])
    seam = (np.abs(y * 6 - np.round(y * 6)) < 0.012)[..., None]
    return _to_u8(np.where(seam, img * 0.45, img))


def bokeh(rng: np.random.Generator) -> np.ndarray:
    """Out-of-focus city lights at night."""
    w, h = BG_SIZE
    img = np.zeros((h, w, 3), np.float32) + np.array([0.05, 0.06, 0.12], np.float32)
    for _ in range(70):
        c = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        r = int(rng.uniform(8, 40))
        col = np.array([rng.uniform(0.5, 1.0), rng.uniform(0.3, 0.9), rng.uniform(0.2, 0.8)], np.float32)
        layer = np.zeros((h, w), np.float32)
        cv2.circle(layer, c, r, 1.0, -1, cv2.LINE_AA)
        img += cv2.GaussianBlur(layer, (0, 0), 2.5)[..., None] * col * rng.uniform(0.2, 0.5)
    return _to_u8(np.clip(img, 0, 1))


def studio(rng: np.random.Generator) -> np.ndarray:
    """A photographer's paper backdrop with a vignette and faint mottling."""
    x, y = _grid()
    d = np.hypot(x - 0.5, y - 0.45)
    tone = 0.78 - 0.45 * d ** 2 + 0.05 * (fbm(rng, x.shape, 4, 50) - 0.5)
    hue = np.array([rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.0)])
    return _to_u8(np.clip(tone[..., None] * hue, 0, 1))


def meadow(rng: np.random.Generator) -> np.ndarray:
    """A green meadow under a pale sky, with blades and flowers in the foreground."""
    x, y = _grid()
    w, h = BG_SIZE
    horizon = 0.38
    skyc = np.array([0.75, 0.85, 0.95]) * (1 - 0.3 * y[..., None])
    n = fbm(rng, (h, w), 5, 20)
    grass = np.dstack([0.25 + 0.2 * n, 0.45 + 0.3 * n, 0.15 + 0.1 * n])
    img = np.where((y > horizon)[..., None], grass, skyc).astype(np.float32)
    for _ in range(60):
        c = (int(rng.uniform(0, w)), int(rng.uniform(horizon * h + 20, h)))
        col = [(0.95, 0.9, 0.2), (0.95, 0.95, 0.95), (0.8, 0.3, 0.6)][int(rng.integers(3))]
        cv2.circle(img, c, int(rng.uniform(2, 5)), col, -1, cv2.LINE_AA)
    return _to_u8(np.clip(img, 0, 1))


BACKGROUNDS = {"sky": sky, "sunset": sunset, "wood": wood, "bokeh": bokeh, "studio": studio, "meadow": meadow}
