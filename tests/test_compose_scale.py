"""Issue 15: composites made through the size cache are deterministic and close to the full-resolution path."""

from __future__ import annotations

import cv2
import numpy as np

from refmatte.compose.render import cutout, scaled
from refmatte.imaging import encode_rgba_png
from refmatte.testing.crafted import soft_alpha


def big_entity(out, h=3000, w=2000) -> dict:
    """A 6 MP textured entity with a soft matte, cached as ingest caches it."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    rgb = np.dstack([np.sin(xx / 37) * 120 + 128, np.cos(yy / 23) * 120 + 128, (xx + yy) % 256])
    rgb = np.clip(rgb + rng.integers(-20, 21, rgb.shape), 0, 255).astype(np.uint8)
    alpha = cv2.resize(soft_alpha(300, 200), (w, h), interpolation=cv2.INTER_LINEAR)
    (out / "cache/rgba").mkdir(parents=True, exist_ok=True)
    (out / "cache/rgba/big.png").write_bytes(encode_rgba_png(rgb, alpha, 1))
    return dict(entity_id="folder-big", rgba_path="cache/rgba/big.png", source_fingerprint="f", config_hash="c")


def test_the_size_cache_is_made_once_deterministic_and_close_to_the_original(tmp_path):
    row = big_entity(tmp_path)
    full = cutout(row, tmp_path, 10 ** 6)  # no cache: the original box
    first = cutout(row, tmp_path, 1536)
    files = sorted((tmp_path / "cache/compose").iterdir())
    assert [f.suffix for f in files] == [".json", ".png"] and max(first.pixels.shape[:2]) == 1536
    made = files[1].read_bytes()
    again = cutout(row, tmp_path, 1536)  # read, not made again
    assert again.box == full.box and again.hw == full.hw and np.array_equal(again.pixels, first.pixels)
    for f in files:
        f.unlink()
    cutout(row, tmp_path, 1536)
    assert files[1].read_bytes() == made  # whoever makes it, the same bytes
    for s in (0.25, 0.2, 0.12, 0.05):  # 0.25: 750 px long, the longest compose draws on a 1024 px canvas
        colour, alpha = scaled(full, s)
        c, a = scaled(again, s)
        assert colour.shape == c.shape  # the geometry is planned on the original box: same size
        diff = np.abs(colour * alpha[..., None] - c * a[..., None])
        assert diff.max() <= 12 and diff.mean() <= 0.7, (s, diff.max(), diff.mean())
        assert np.abs(alpha - a).max() * 255 < 1


def test_stale_size_cache_files_are_pruned_and_nothing_else(demo, tmp_path):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from refmatte.compose.render import size_cache_path
    from refmatte.compose.run import prune_size_cache

    out = tmp_path / "m"
    shutil.copytree(demo / "manifests", out, ignore=shutil.ignore_patterns("images", "mattes"))
    entity = pq.read_table(out / "entities.parquet").slice(0, 1).to_pylist()[0]
    current = size_cache_path(entity, out, 1536)
    other_size = size_cache_path(entity, out, 1024)  # another canvas: another split may read it
    stale = current.with_name(current.name.replace(current.stem.rsplit("-", 1)[1], "0" * 12))
    gone = current.with_name("no-such-entity-1536-" + "a" * 12 + ".png")
    mine = current.with_name("my-notes.png")  # not a name compose writes: the user's
    current.parent.mkdir(parents=True, exist_ok=True)
    for f in (current, current.with_suffix(".json"), other_size, stale, stale.with_suffix(".json"), gone, mine):
        f.write_bytes(b"x")
    assert prune_size_cache(out) == 3
    assert sorted(p.name for p in current.parent.iterdir()) == sorted(
        p.name for p in (current, current.with_suffix(".json"), other_size, mine))
    # an entity whose cache changed (re-ingested): its old copies are stale too
    t = pq.read_table(out / "entities.parquet")
    hashes = t["config_hash"].to_pylist()
    hashes[0] = "changed"
    t = t.set_column(t.schema.get_field_index("config_hash"), t.schema.field("config_hash"), pa.array(hashes))
    pq.write_table(t, out / "entities.parquet")
    assert prune_size_cache(out) == 3 and sorted(p.name for p in current.parent.iterdir()) == ["my-notes.png"]
