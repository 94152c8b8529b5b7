"""Salient / transparent (paper 3.1, after AIM-500's SO / STM / NS types), from the alpha.

- transparent: at least ``TRANSPARENT_SEMI_SHARE`` of the entity's pixels (alpha > 0) are
  semi-transparent. Anti-aliased or hairy opaque objects stay far below it (3-13 % on
  the sample pool), glass, smoke, bubbles and nets far above (65-100 %).
- salient: the entity has a compact opaque body. Non-salient (NS) entities, such as
  smoke, fog, grass or a net, have little of it: their alpha >= 128 region covers less
  than ``SALIENT_BODY_SHARE`` of the entity's filled outline (all holes, no core).
- matting_type: STM when transparent, NS when not salient, else SO; AIM-500's own label
  (``source_label`` SO/STM/NS of source aim500) wins.

Ingestion already measured ``alpha_semi_fraction``; the body test reads the cached alpha.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from refmatte.annotate.base import Annotator
from refmatte.imaging import read_rgba

VERSION = 1
TRANSPARENT_SEMI_SHARE = 0.30
SALIENT_BODY_SHARE = 0.50
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

    def provenance(self) -> str:
        return f"alpha-traits/{VERSION} semi>={TRANSPARENT_SEMI_SHARE} body>={SALIENT_BODY_SHARE}"

    def run(self, rows: list[dict], out: Path) -> list[dict]:
        results = []
        for row in rows:
            semi = float(row["alpha_semi_fraction"] or 0.0)
            body = body_share(read_rgba(out / row["rgba_path"])[..., 3])
            transparent = semi >= TRANSPARENT_SEMI_SHARE
            if row["source"] == "aim500" and row["source_label"] in AIM_TYPES:
                kind = row["source_label"]
            elif transparent:
                kind = "STM"
            else:
                kind = "NS" if body < SALIENT_BODY_SHARE else "SO"
            results.append(dict(transparent=transparent, salient=kind != "NS", matting_type=kind))
        return results
