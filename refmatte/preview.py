"""``refmatte preview``: one HTML page a person opens to check a manifest by eye.

Entities are shown as RGBA cut-outs over a checkerboard with their labels, measurements
and reject reasons; backgrounds as thumbnails. The page is paginated in the browser
(``page_size`` cards at a time, filters by outcome, a search box), so 10,000 rows stay
usable. Thumbnails are small WebP files (alpha kept): inlined as data URIs up to
``inline_limit`` rows, so the page is a single self-contained file, and written to a
``<name>_files/`` folder next to the page beyond that (re-running reuses them).

Each table kind is a :class:`Kind`: how to find a row's picture and what to write under
it. Later tables (composites) add a kind.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import cv2
import numpy as np
import pyarrow.parquet as pq

from refmatte.atomic import atomic_write_bytes, exclusive
from refmatte.imaging import ImageReadError, read_alpha, read_rgb, read_rgba
from refmatte.paths import safe_name
from refmatte.schema import BACKGROUND_SCHEMA, COMPOSITE_SCHEMA, ENTITY_SCHEMA, conform

INLINE_LIMIT = 2000
THUMB_QUALITY = 80
# Attribution a page must carry when it embeds pictures of these sources (CC-BY-4.0 art).
CREDITS = {
    "sample": "Sample pool: Twemoji graphics (c) 2014-2021 Twitter and 2022- Jason Sofonia & Justine De Caires, "
    "CC-BY-4.0 (creativecommons.org/licenses/by/4.0), rasterised by refmatte; other assets: refmatte/sample/LICENSES.md.",
}


@dataclass(frozen=True)
class Card:
    """One row as the page shows it."""

    id: str
    title: str
    lines: list[str]
    reject: str | None
    detail: str | None
    thumb: str | None  # data URI or relative path; None when no picture can be made
    why_none: str | None = None


def thumbnail(rgba: np.ndarray, size: int) -> bytes:
    """WebP bytes of ``rgba`` (H, W, 3 or 4 uint8, RGB order) with its long side ``size``.

    Colour is premultiplied by alpha before the area resampling and divided after, so
    thin hair does not pick up a dark fringe from the transparent colour around it.
    """
    h, w = rgba.shape[:2]
    scale = min(1.0, size / max(h, w))
    dsize = (max(1, round(w * scale)), max(1, round(h * scale)))
    if rgba.shape[2] == 4:
        a = rgba[..., 3]
        pre = cv2.multiply(rgba[..., :3], cv2.merge([a, a, a]), scale=1 / 255.0)  # uint8, saturating
        small = cv2.resize(cv2.merge([*cv2.split(pre), a]), dsize, interpolation=cv2.INTER_AREA)
        sa = small[..., 3:].astype(np.float32)
        rgb = np.where(sa > 0, small[..., :3] * (255.0 / np.maximum(sa, 1.0)), 0)
        bgr = np.dstack([np.clip(np.rint(rgb), 0, 255).astype(np.uint8)[..., ::-1], small[..., 3]])
    else:
        bgr = cv2.resize(rgba, dsize, interpolation=cv2.INTER_AREA)[..., ::-1]
    ok, buf = cv2.imencode(".webp", np.ascontiguousarray(bgr), [cv2.IMWRITE_WEBP_QUALITY, THUMB_QUALITY])
    if not ok:  # pragma: no cover - cv2 builds without WebP
        raise RuntimeError("this OpenCV build cannot encode WebP")
    return buf.tobytes()


def _entity_picture(row: dict, base: Path) -> np.ndarray:
    """The cut-out of a kept entity, or the source image (with its matte when it fits)."""
    if row.get("rgba_path"):
        return read_rgba(base / row["rgba_path"])
    if not row.get("image_path"):
        raise ImageReadError("missing_file", row.get("alpha_path") or "", "the manifest names no image")
    rgb = read_rgb(base / row["image_path"]).array
    if row.get("alpha_path"):
        try:
            a = read_alpha(base / row["alpha_path"]).array
            if a.shape == rgb.shape[:2]:
                return np.dstack([rgb, a])
        except ImageReadError:
            pass
    return rgb


def _entity_card(row: dict) -> tuple[str, list[str]]:
    label = row.get("category") or row.get("source_label") or "unlabelled"
    sup = row.get("supercategory") or row.get("source_supercategory")
    title = f"{label} ({sup})" if sup else label
    if row.get("needs_review"):
        title += " · needs review"
    lines = [row["entity_id"], f"{row['source']} · {row['source_split']}"]
    if row.get("width"):
        lines.append(f"{row['width']}×{row['height']} px")
    if row.get("alpha_band_px") is not None and row.get("alpha_area_fraction") is not None:
        lines.append(f"band {row['alpha_band_px']:.1f} px · area {row['alpha_area_fraction']:.0%}")
    found = []  # annotations, when `refmatte annotate` ran
    if row.get("category_source"):
        conf = row.get("category_confidence")
        found.append(f"category by {row['category_source']}" + (f" {conf:.2f}" if conf is not None and row["category_source"] == "detector" else ""))
    if row.get("color_name"):
        found.append(f"{row['color_name']} ({row['color_basic']})")
    if row.get("matting_type"):
        found.append(row["matting_type"] + (" · transparent" if row.get("transparent") else ""))
    if row.get("gender") or row.get("age_group"):
        found.append(" ".join(v for v in (row.get("gender"), row.get("age_group")) if v))
    if row.get("clothes"):
        found.append("wears " + ", ".join(row["clothes"]))
    if row.get("synonyms"):
        found.append("aka " + ", ".join(row["synonyms"][:4]))
    lines += found
    attrs = row.get("source_attributes") or []
    if attrs:
        lines.append("truth: " + ", ".join(f"{k}: {v}" for k, v in attrs))
    return title, lines


def _background_picture(row: dict, base: Path) -> np.ndarray:
    if not row.get("image_path"):
        raise ImageReadError("missing_file", "", "the manifest names no image")
    return read_rgb(base / row["image_path"]).array


def _background_card(row: dict) -> tuple[str, list[str]]:
    lines = [row["background_id"], f"{row['source']} · {row['source_split']}"]
    if row.get("width"):
        lines.append(f"{row['width']}×{row['height']} px")
    return Path(row["source_key"]).name, lines


def _composite_picture(image: dict, base: Path) -> np.ndarray:
    """The composite with its entities' mattes in a row underneath (one picture per card)."""
    rgb = read_rgb(base / image["image_path"]).array
    h, w = rgb.shape[:2]
    n = len(image["entities"])
    tile_w = w // n
    tile_h = round(h * tile_w / w)
    strip = np.zeros((tile_h, w, 3), np.uint8)
    for k, e in enumerate(image["entities"]):
        m = read_alpha(base / e["matte_path"]).array
        strip[:, k * tile_w:(k + 1) * tile_w] = cv2.resize(m, (tile_w, tile_h), interpolation=cv2.INTER_AREA)[..., None]
    return np.vstack([rgb, strip])


def _composite_card(image: dict) -> tuple[str, list[str]]:
    ents = image["entities"]
    first = ents[0]
    title = f"{first['arrangement']}: " + " · ".join(f"{e['slot']} {e['category'] or '?'}" for e in ents)
    lines = [f"{image['image_id']} · {first['width']}×{first['height']} px", f"background {first['background_id']} · group {first['group']}"]
    for e in ents:
        where = "/".join(v for v in (e["position_h"], e["position_v"]) if v)
        extra = ", ".join(e["extremes"] or [])
        colour = f" ({e['color_basic']})" if e.get("color_basic") else ""
        visible = f" · {e['visible_fraction']:.0%} visible" if e["visible_fraction"] < 0.99 else ""
        lines.append(f"{e['slot']}: {e['category']}{colour} {where}{' · ' + extra if extra else ''}{visible}")
    rels = [f"{e['slot']} {r['relation']} {r['other']}" for e in ents for r in (e["relations"] or []) if e["slot"] < r["other"]]
    if rels:
        lines.append("; ".join(rels))
    return title, lines


@dataclass(frozen=True)
class Kind:
    name: str
    id_column: str
    schema: object  # pyarrow schema the rows are conformed to
    picture: Callable[[dict, Path], np.ndarray]
    describe: Callable[[dict], tuple[str, list[str]]]


KINDS = (
    Kind("composites", "matte_path", COMPOSITE_SCHEMA, _composite_picture, _composite_card),
    Kind("entities", "entity_id", ENTITY_SCHEMA, _entity_picture, _entity_card),
    Kind("backgrounds", "background_id", BACKGROUND_SCHEMA, _background_picture, _background_card),
)


def kind_of(columns: list[str], path: Path) -> Kind:
    for kind in KINDS:
        if kind.id_column in columns:
            return kind
    known = ", ".join(k.id_column for k in KINDS)
    raise ValueError(f"{path} is not a refmatte manifest this command can show (no column {known}).")


@dataclass
class PreviewSummary:
    html: Path
    rows: int
    pictures: int
    missing: Counter  # why a row has no picture -> count
    thumbs_dir: Path | None


def render_preview(
    manifest: Path,
    out: Path,
    *,
    page_size: int = 120,
    thumb_size: int = 192,
    inline: bool | None = None,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    ids: set[str] | None = None,
) -> PreviewSummary:
    """Write the preview page of ``manifest`` to ``out`` (atomically); see the module doc."""
    manifest, out = Path(manifest), Path(out)
    if out.resolve() == manifest.resolve():
        raise ValueError(f"--out {out} is the manifest itself; give an .html file.")
    try:
        table = pq.read_table(manifest)
    except (OSError, ValueError) as e:
        raise ValueError(f"{manifest} is not a readable Parquet manifest ({e}).") from None
    kind = kind_of(table.schema.names, manifest)
    if kind.name == "composites":
        from refmatte.compose.run import check_committed

        check_committed(manifest)
    table = conform(table, kind.schema, str(manifest))
    if table[kind.id_column].null_count:
        raise ValueError(f"{manifest} has rows without {kind.id_column}; re-run the stage that wrote it.")
    rows = sorted(table.to_pylist(), key=lambda r: r[kind.id_column])
    if kind.name == "composites":  # one card per image, holding its entities' rows
        images: dict[str, dict] = {}
        for r in rows:
            images.setdefault(r["image_id"], dict(image_id=r["image_id"], image_path=r["image_path"], seed=r["seed"],
                                                  compose_key=r["compose_key"], entities=[]))["entities"].append(r)
        rows = list(images.values())
        kind = Kind(kind.name, "image_id", kind.schema, kind.picture, kind.describe)
    if ids is not None:  # a subset, e.g. the entities exported for review
        rows = [r for r in rows if r[kind.id_column] in ids]
    base = manifest.parent
    inline = len(rows) <= INLINE_LIMIT if inline is None else inline
    thumbs_dir = None if inline else out.with_name(out.stem + "_files")

    def make(row: dict) -> tuple[str | None, str | None, str | None]:
        """(thumbnail src, None, None), or (None, reason code, detail) when no picture."""
        key = hashlib.sha1(json.dumps([row[kind.id_column], row.get("source_fingerprint"), row.get("config_hash"),
                                       row.get("compose_key"), thumb_size], default=str).encode()).hexdigest()[:10]
        name = f"{safe_name(row[kind.id_column])}-{key}.webp"  # ids are data: never a path
        if thumbs_dir is not None and (thumbs_dir / name).exists():
            return name, None, None
        try:
            data = thumbnail(kind.picture(row, base), thumb_size)
        except ImageReadError as e:
            return None, e.reason, f"{Path(e.path).name}: {e.detail}" if e.path else e.detail
        except OSError as e:
            return None, "missing_file", f"{Path(e.filename or '').name}: {e.strerror}"
        if thumbs_dir is None:
            return "data:image/webp;base64," + base64.b64encode(data).decode(), None, None
        atomic_write_bytes(thumbs_dir / name, data)
        return name, None, None

    results: list[tuple[str | None, str | None, str | None]] = []
    with contextlib.ExitStack() as stack:
        if thumbs_dir is not None:  # two previews of one page never prune each other's thumbnails
            stack.enter_context(exclusive(thumbs_dir, "thumbnails folder"))
        with ThreadPoolExecutor(max(1, workers)) as pool:  # cv2 releases the GIL while decoding
            for i, res in enumerate(pool.map(make, rows)):
                results.append(res)
                if progress:
                    progress(i + 1, len(rows))
        return _write_page(manifest, out, kind, rows, results, page_size, thumbs_dir)


def _write_page(manifest: Path, out: Path, kind: Kind, rows: list[dict], results: list, page_size: int,
                thumbs_dir: Path | None) -> PreviewSummary:
    """The page (atomically), then the thumbnails no row uses any more are pruned."""
    cards, missing = [], Counter()
    for row, (src, code, why) in zip(rows, results):
        title, lines = kind.describe(row)
        if src is None:
            missing[code] += 1
        if src is not None and thumbs_dir is not None:
            src = f"{quote(thumbs_dir.name)}/{quote(src)}"
        cards.append(Card(row[kind.id_column], title, lines, row.get("reject_reason"), row.get("reject_detail"), src, why))
    credits = sorted({CREDITS[r["source"]] for r in rows if r.get("source") in CREDITS})
    if kind.name == "composites" and rows:  # composites embed entities; say whose, when the pool's
        sources = {e.split("-")[0] for img in rows for e in (x["entity_id"] for x in img["entities"])}
        credits = sorted(CREDITS[s] for s in sources if s in CREDITS)
    page = _page(manifest, kind, cards, page_size, credits)
    atomic_write_bytes(out, page.encode("utf-8"))
    if thumbs_dir is not None:  # thumbnails of rows no longer in the manifest, or of older versions
        keep = {Path(r[0]).name for r in results if r[0]}
        for old in thumbs_dir.glob("*.webp"):
            if old.name not in keep:
                old.unlink(missing_ok=True)
    return PreviewSummary(out, len(rows), sum(c.thumb is not None for c in cards), missing, thumbs_dir)


def _json_for_script(obj) -> str:
    """JSON that cannot end or confuse the <script> element holding it (no raw <, >, &)."""
    text = json.dumps(obj, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _page(manifest: Path, kind: Kind, cards: list[Card], page_size: int, credits: list[str]) -> str:
    template = resources.files("refmatte").joinpath("preview.html").read_text(encoding="utf-8")
    data = [dict(id=c.id, t=c.title, l=c.lines, r=c.reject, d=c.detail, s=c.thumb, w=c.why_none) for c in cards]
    counts = Counter(c.reject or "kept" for c in cards)
    fill = {
        "TITLE": html.escape(f"{kind.name}: {manifest}"),
        "CREDITS": "<br>".join(html.escape(c) for c in credits),
        "DATA": _json_for_script({"kind": kind.name, "pageSize": page_size, "counts": counts, "cards": data}),
    }
    return re.sub(r"\{\{(TITLE|CREDITS|DATA)\}\}", lambda m: fill[m.group(1)], template)  # one pass: no value is re-read
