"""Salient / transparent (paper 3.1, after AIM-500's SO / STM / NS types), from the alpha.

- transparent: at least ``TRANSPARENT_SEMI_SHARE`` of the entity's pixels (alpha > 0) are
  semi-transparent. Anti-aliased or hairy opaque objects stay far below it (3-13 % on
  the sample pool), glass, smoke, bubbles and nets far above (65-100 %).
- salient: the entity has a compact body. Non-salient (NS, AIM-500's type) entities are
  those a person would not call an object: (1) categories that are NS by nature
  (``NON_SALIENT``: smoke, fog, fire, nets, webs ...); (2) faint entities, whose mean
  alpha over their own pixels is below ``FAINT_MEAN`` (smoke measures 0.14 on the sample
  pool; bubbles and glasses 0.20, plastic bags 0.55, everything opaque 0.94-1.00); (3)
  opaque entities without a core: their alpha >= 128 region covers less than
  ``SALIENT_BODY_SHARE`` of the filled outline (grass, a net drawn opaque).
- matting_type: NS when not salient, else STM when transparent, else SO; AIM-500's own
  label (``source_label`` SO/STM/NS of source aim500) wins.

Ingestion already measured ``alpha_semi_fraction``; the body test reads the cached alpha.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from refmatte.annotate.base import Annotator
from refmatte.imaging import read_rgba

VERSION = 2  # 2: non-salient by category and by faintness; NS before STM
TRANSPARENT_SEMI_SHARE = 0.30
SALIENT_BODY_SHARE = 0.50
FAINT_MEAN = 0.18
NON_SALIENT = frozenset({"smoke", "fog", "mist", "steam", "fire", "flame", "net", "spider web", "cobweb", "cloud", "dust",
                         "grass", "splash"})
AIM_TYPES = ("SO", "STM", "NS")


def body_share(alpha: np.ndarray) -> float:
    """Share of the entity's filled outline (alpha > 0, holes filled) that is opaque body (alpha >= 128)."""
    contours, _ = cv2.findContours((alpha > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 0.0
    filled = np.zeros(alpha.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return float((alpha >= 128).sum() / max(1, filled.sum()))


class TraitsAnnotator(Annotator):
    name = "traits"
    columns = ("transparent", "salient", "matting_type")
    cpu_bound = True  # runs in --workers processes

    def provenance(self) -> str:
        return (f"alpha-traits/{VERSION} semi>={TRANSPARENT_SEMI_SHARE} body>={SALIENT_BODY_SHARE} "
                f"faint<{FAINT_MEAN}")

    def key(self, row: dict) -> str:
        return f"{super().key(row)} category={row.get('category')}"  # NS by category: redo when it changes

    def run(self, rows: list[dict], out: Path) -> list[dict]:
        results = []
        for row in rows:
            semi = float(row["alpha_semi_fraction"] or 0.0)
            alpha = read_rgba(out / row["rgba_path"])[..., 3]
            own = alpha[alpha > 0]
            faint = own.size == 0 or own.mean() / 255.0 < FAINT_MEAN
            transparent = semi >= TRANSPARENT_SEMI_SHARE
            solid_without_core = not transparent and body_share(alpha) < SALIENT_BODY_SHARE
            if row["source"] == "aim500" and row["source_label"] in AIM_TYPES:
                kind = row["source_label"]
            elif row.get("category") in NON_SALIENT or faint or solid_without_core:
                kind = "NS"
            else:
                kind = "STM" if transparent else "SO"
            results.append(dict(transparent=transparent, salient=kind != "NS", matting_type=kind))
        return results
