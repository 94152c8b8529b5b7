"""Expressions for every (image, entity) row of a composite manifest: in compose, or again later."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from refmatte.atomic import atomic_path, exclusive
from refmatte.express.engine import STYLES as EXPRESSION_STYLES
from refmatte.express.engine import express_image
from refmatte.schema import COMPOSITE_SCHEMA, conform

MARGIN = 0.02  # ComposeOptions.margin's default: boxes this share of the frame apart
VERSION = 2  # 2: relations from boxes, hypernym-aware names, paper style, facts column
STYLES = ("css3", "basic")


def express_rows(rows: list[dict], seed: int = 0, per_entity: int = 4, colour_style: str = "css3",
                 style: str = "paper") -> list[dict]:
    """``rows`` with the expression columns filled, image by image (pure: same rows, same text)."""
    if colour_style not in STYLES:
        raise ValueError(f"colour style must be one of {', '.join(STYLES)}, not {colour_style!r}.")
    if style not in EXPRESSION_STYLES:
        raise ValueError(f"expression style must be one of {', '.join(EXPRESSION_STYLES)}, not {style!r}.")
    by_image: dict[str, list[dict]] = {}
    for r in rows:
        by_image.setdefault(r["image_id"], []).append(r)
    out = []
    by = f"express/{VERSION} seed={seed} per_entity={per_entity} colour={colour_style} style={style}"
    for image_rows in by_image.values():
        scene = sorted(image_rows, key=lambda r: r["slot"])
        named = [r for r in scene if r["category"]]  # an entity without a category cannot be described
        image_seed = ((scene[0]["seed"] or 0) ^ seed) & ((1 << 63) - 1)
        texts = dict(zip((r["slot"] for r in named), express_image(named, image_seed, per_entity, colour_style, style))) if named else {}
        for r in scene:
            t = texts.get(r["slot"], dict(keyword=None, keyword_valid=False, expressions=[], expression_forms=[],
                                          expression_extra_attributes=[], expression_facts=[],
                                          expression_notes=["no category: review it (refmatte labels export)"]))
            out.append(r | t | {"expressions_by": by})
    return out


def express_manifest(manifest: Path, seed: int = 0, per_entity: int = 4, colour_style: str = "css3",
                     style: str = "paper") -> list[dict]:
    """Regenerate the expressions of a composite manifest in place (atomically); returns the rows.

    Relations and extremes are first re-measured from the stored boxes (a manifest composed
    by an older version measured them from centroids), so every relation word is true.

    Holds the manifest folder's lock, so it never interleaves with a compose of that folder,
    and finishes the commit of a compose that was killed while committing.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise ValueError(f"{manifest} not found; give a composite manifest (train.parquet, test.parquet).")
    with exclusive(manifest.parent, "manifest folder"):
        from refmatte.compose.geometry import remeasure  # here: compose imports this module
        from refmatte.compose.run import finish_commit

        finish_commit(manifest.parent, manifest.stem)  # a compose killed while committing: its commit first
        try:
            table = pq.read_table(manifest)
        except (OSError, pa.ArrowInvalid) as e:
            raise ValueError(f"{manifest} is not a readable Parquet manifest ({e}).") from None
        rows = conform(table, COMPOSITE_SCHEMA, str(manifest)).to_pylist()
        by_image: dict[str, list[dict]] = {}
        for r in rows:
            by_image.setdefault(r["image_id"], []).append(r)
        rows = [r for scene in by_image.values() for r in remeasure(scene, MARGIN)]  # relations as this version measures
        rows = express_rows(rows, seed, per_entity, colour_style, style)
        rows.sort(key=lambda r: (r["image_id"], r["slot"]))
        with atomic_path(manifest) as tmp:
            pq.write_table(pa.Table.from_pylist(rows, schema=COMPOSITE_SCHEMA), tmp, compression="zstd")
    return rows
