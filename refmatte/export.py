"""A composite manifest in the formats other tools read: Hugging Face datasets, WebDataset, refer-style JSON.

- ``hf``: a ``datasets`` dataset saved with ``save_to_disk`` (``datasets.load_from_disk`` reads
  it): one row per (image, entity) as in the manifest, ``image`` and ``matte`` as Image features
  holding the files' bytes, every annotation column with its Arrow type, and ``README.md``, a
  dataset card made from the datasheet (every column: type, unit, meaning).
- ``webdataset``: tar shards ``shard-000000.tar`` ... of ``--shard-size`` images; one sample per
  image: ``KEY.jpg`` (the composite), ``KEY.SLOT.png`` (each entity's matte) and ``KEY.json``
  (the image's rows, every annotation column).
- ``refcoco``: ``instances.json`` (COCO: images, one annotation per entity with its matte
  thresholded at 0.5 as an RLE mask from pycocotools, box, area, category) and ``refs.json``
  (refer's fields: ref_id, ann_id, image_id, split, category_id, sentences with sent and
  tokens), images named by their path relative to the manifest's folder.

Stored paths are data: each is resolved inside the manifest's folder (refmatte.paths.inside)
and decoded under the pixel cap. The output is built in a temporary folder beside ``out`` and
renamed into place at the end, so a failed run leaves the last good export whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

FORMATS = ("hf", "webdataset", "refcoco")
PATH_COLUMNS = ("image_path", "matte_path")


class ExportError(ValueError):
    """A manifest that cannot be exported, or a format that is missing its library; one sentence."""


def read_composites(manifest: Path) -> pd.DataFrame:
    """The manifest's rows (datasheet types checked), with ``_image`` and ``_matte`` resolved inside its folder."""
    import pyarrow.parquet as pq

    from refmatte.compose.run import check_committed
    from refmatte.paths import UnsafePath, inside
    from refmatte.schema import COMPOSITE_SCHEMA, check_columns

    manifest = Path(manifest)
    if not manifest.is_file():
        raise ExportError(f"manifest {manifest} does not exist")
    try:
        check_committed(manifest)
        table = check_columns(pq.read_table(manifest), list(COMPOSITE_SCHEMA), str(manifest))
    except (OSError, ValueError) as e:
        raise ExportError(f"{manifest} is not a composite manifest refmatte can read: {e}") from None
    rows = table.to_pandas()
    try:
        rows["_image"] = [inside(manifest.parent, p, f"{manifest.name} {i}, image_path") for i, p in
                          zip(rows.image_id, rows.image_path)]
        rows["_matte"] = [inside(manifest.parent, p, f"{manifest.name} {i}, matte_path") for i, p in
                          zip(rows.image_id, rows.matte_path)]
    except UnsafePath as e:
        raise ExportError(str(e)) from None
    return rows.sort_values(["image_id", "slot"]).reset_index(drop=True)


def _read_bytes(path: Path, what: str) -> bytes:
    """The file's bytes after checking it decodes under the pixel cap."""
    from refmatte.imaging import ImageReadError, check_file_pixels

    try:
        check_file_pixels(path)
        return path.read_bytes()
    except (OSError, ImageReadError) as e:
        raise ExportError(f"{what} {path}: {e}") from None


def _plain(value):
    """A JSON-safe copy of a pandas/arrow cell (arrays to lists, NaN to None)."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _annotations(row: pd.Series) -> dict:
    return {k: _plain(v) for k, v in row.items() if not k.startswith("_")}


def export(manifest: Path, fmt: str, out: Path, shard_size: int = 1000,
           progress: Callable[[int], None] | None = None) -> dict:
    """Write ``manifest`` as ``fmt`` into ``out`` (module doc); a summary of what was written."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose {', '.join(FORMATS)}")
    rows = read_composites(manifest)
    if rows.empty:
        raise ExportError(f"{manifest} has no rows to export")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        summary = {"hf": _hf, "webdataset": _webdataset, "refcoco": _refcoco}[fmt](rows, Path(manifest), tmp,
                                                                                 shard_size, progress)
        old = out.with_name(f".{out.name}.old")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"format": fmt, "out": str(out), "rows": len(rows), "images": rows.image_id.nunique(), **summary}


def dataset_card(manifest: Path, rows: pd.DataFrame) -> str:
    """README.md of the exported dataset: what it is, its size, and the datasheet of its columns."""
    from refmatte.schema import COMPOSITE_SCHEMA, _type_name

    lines = ["---", "license: other", "task_categories:", "- image-segmentation", "tags:", "- image-matting",
             "- referring-image-matting", "---", "", f"# {Path(manifest).stem} (RefMatte-style composites)", "",
             f"Made by refmatte from `{Path(manifest).name}`: {rows.image_id.nunique()} images, {len(rows)} rows "
             "(one per image and entity). `image` is the composite, `matte` the entity's visible alpha matte "
             "(8-bit, 0 transparent, 255 opaque); the other columns are the manifest's, as the datasheet below "
             "says. Licences: those of the source datasets the entities and backgrounds came from "
             "(`source`, `license` in entities.parquet).", "", "| column | type | unit | meaning |", "| --- | --- | --- | --- |",
             "| `image` | Image | - | The composite (JPEG bytes). |", "| `matte` | Image | - | This entity's visible alpha matte (PNG bytes). |"]
    for f in COMPOSITE_SCHEMA:
        if f.name in PATH_COLUMNS:
            continue
        meta = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        lines.append(f"| `{f.name}` | {_type_name(f.type)} | {meta['unit']} | {meta['doc']} |")
    return "\n".join(lines) + "\n"


def _hf(rows, manifest, out, shard_size, progress) -> dict:
    try:
        import datasets
    except ImportError:
        raise ExportError("--format hf needs Hugging Face datasets: pip install 'refmatte[datasets]'") from None
    import pyarrow.parquet as pq

    schema = pq.read_schema(manifest)
    keep = [f for f in schema if f.name not in PATH_COLUMNS]
    features = datasets.Features.from_arrow_schema(_schema(keep))
    features["image"], features["matte"] = datasets.Image(), datasets.Image()

    def rows_of():
        for _, row in rows.iterrows():
            record = {f.name: row[f.name] for f in keep}
            record["image"] = {"bytes": _read_bytes(row._image, "image"), "path": Path(row.image_path).name}
            record["matte"] = {"bytes": _read_bytes(row._matte, "matte"), "path": Path(row.matte_path).name}
            if progress:
                progress(1)
            yield {k: _plain(v) for k, v in record.items()}

    datasets.disable_progress_bars()  # ours is the one progress bar
    try:
        with tempfile.TemporaryDirectory(prefix="refmatte-hf-") as cache:
            # a fingerprint of our own: datasets would otherwise pickle the generator (and the progress bar) to hash it
            fingerprint = hashlib.sha256(f"{Path(manifest).resolve()}:{len(rows)}".encode()).hexdigest()[:16]
            ds = datasets.Dataset.from_generator(rows_of, features=features, cache_dir=cache, fingerprint=fingerprint)
            ds.save_to_disk(str(out))
    finally:
        datasets.enable_progress_bars()
    (out / "README.md").write_text(dataset_card(manifest, rows))
    return {"files": "save_to_disk folder + README.md"}


def _schema(fields):
    import pyarrow as pa

    return pa.schema(fields)


def _webdataset(rows, manifest, out, shard_size, progress) -> dict:
    try:
        import webdataset as wds
    except ImportError:
        raise ExportError("--format webdataset needs webdataset: pip install 'refmatte[datasets]'") from None
    with wds.ShardWriter(str(out / "shard-%06d.tar"), maxcount=shard_size, verbose=0) as sink:
        for image_id, group in rows.groupby("image_id", sort=True):
            sample = {"__key__": image_id, "jpg": _read_bytes(group._image.iloc[0], "image"),
                      "json": json.dumps([_annotations(r.drop(list(PATH_COLUMNS))) for _, r in group.iterrows()]).encode()}
            for _, r in group.iterrows():
                sample[f"{int(r.slot)}.png"] = _read_bytes(r._matte, "matte")
            sink.write(sample)
            if progress:
                progress(len(group))
    return {"shards": len(list(out.glob("shard-*.tar")))}


def _refcoco(rows, manifest, out, shard_size, progress) -> dict:
    try:
        from pycocotools import mask as rle
    except ImportError:
        raise ExportError("--format refcoco needs pycocotools: pip install 'refmatte[datasets]'") from None
    from refmatte.imaging import ImageReadError, read_alpha

    categories = {c: i + 1 for i, c in enumerate(sorted(rows.category.fillna("object").unique()))}
    images, annotations, refs, sent_id = [], [], [], 0
    for n, (image_id, group) in enumerate(rows.groupby("image_id", sort=True), start=1):
        first = group.iloc[0]
        images.append({"id": n, "file_name": str(first.image_path), "width": int(first.width), "height": int(first.height),
                       "refmatte_id": image_id})
        for _, r in group.iterrows():
            try:
                alpha = read_alpha(r._matte).array
            except (OSError, ImageReadError) as e:
                raise ExportError(f"matte {r._matte}: {e}") from None
            binary = np.asfortranarray((alpha >= 128).astype(np.uint8))
            encoded = rle.encode(binary)
            ann_id = len(annotations) + 1
            category = categories[r.category if isinstance(r.category, str) else "object"]
            annotations.append({"id": ann_id, "image_id": n, "category_id": category, "iscrowd": 0,
                                "segmentation": {"size": list(encoded["size"]), "counts": encoded["counts"].decode()},
                                "area": float(rle.area(encoded)), "bbox": [float(v) for v in rle.toBbox(encoded)]})
            texts = [t for t in [r.keyword] + list(r.expressions if r.expressions is not None else []) if isinstance(t, str)]
            sentences = []
            for t in texts:
                sentences.append({"sent_id": sent_id, "sent": t, "raw": t, "tokens": re.findall(r"[\w'-]+", t.lower())})
                sent_id += 1
            refs.append({"ref_id": len(refs), "ann_id": ann_id, "image_id": n, "split": str(r.split),
                         "category_id": category, "sentences": sentences, "sent_ids": [s["sent_id"] for s in sentences],
                         "file_name": str(first.image_path)})
            if progress:
                progress(1)
    (out / "instances.json").write_text(json.dumps({
        "info": {"description": f"refmatte export of {manifest.name}",
                 "image_root": "file_name is relative to the manifest's folder"},
        "images": images, "annotations": annotations,
        "categories": [{"id": i, "name": c} for c, i in categories.items()]}))
    (out / "refs.json").write_text(json.dumps(refs))
    return {"annotations": len(annotations), "sentences": sent_id}
