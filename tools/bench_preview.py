"""Preview of a 10,000-row manifest: thumbnail throughput and page load, against baselines.

Builds the demo (the sample pool) in a temporary folder, repeats its entity rows under new
ids up to ``--rows``, then measures:
  - thumbnails: render_preview (--files) with 1 and 2 threads, against the floor for the
    same work (decode each RGBA cache, resize, encode WebP in a plain loop);
  - re-run: render_preview again, reusing the thumbnails;
  - page: headless chromium loading the page and drawing its first page of cards (the
    --dump-dom wall time), against the same page built from one page of rows only.

Usage: python tools/bench_preview.py [--rows 10000] [--page-size 120]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import pyarrow as pa
import pyarrow.parquet as pq

from refmatte.cli import app
from refmatte.imaging import read_rgba
from refmatte.preview import render_preview


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _load_time(page: Path) -> float:
    browser = shutil.which("chromium") or shutil.which("google-chrome")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--virtual-time-budget=20000", "--dump-dom", page.as_uri()]
    t = time.perf_counter()
    dom = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    assert 'data-rendered="' in dom
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--page-size", type=int, default=120)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("COLUMNS", "120")
        app(["demo", str(tmp / "demo")], standalone_mode=False)
        m = tmp / "demo/manifests"
        rows = pq.read_table(m / "entities.parquet").to_pylist()
        big = [dict(r, entity_id=f"{r['entity_id']}-{k:05d}") for k in range(-(-args.rows // len(rows))) for r in rows][: args.rows]
        schema = pq.read_schema(m / "entities.parquet")
        pq.write_table(pa.Table.from_pylist(big, schema=schema), m / "big.parquet")
        pq.write_table(pa.Table.from_pylist(big[: args.page_size], schema=schema), m / "one_page.parquet")

        def plain(r):  # decode, resize, encode: what any thumbnailer does, no colour care
            rgba = read_rgba(m / r["rgba_path"])
            small = cv2.resize(rgba, (192, 192), interpolation=cv2.INTER_AREA)
            return cv2.imencode(".webp", small, [cv2.IMWRITE_WEBP_QUALITY, 80])[1]

        floor, _ = _timed(lambda: [plain(r) for r in big])
        results = []
        for workers in (1, 2):
            out = tmp / f"p{workers}/big.html"
            t, s = _timed(lambda: render_preview(m / "big.parquet", out, page_size=args.page_size, inline=False, workers=workers))
            results.append((f"render_preview --files, {workers} thread(s)", t, args.rows / t, floor / t))
        t, _ = _timed(lambda: render_preview(m / "big.parquet", tmp / "p2/big.html", page_size=args.page_size, inline=False, workers=2))
        results.append(("re-run, thumbnails reused", t, args.rows / t, floor / t))
        page_kib = (tmp / "p2/big.html").stat().st_size / 1024
        thumbs_mib = sum(p.stat().st_size for p in (tmp / "p2/big_files").iterdir()) / 2**20

        render_preview(m / "one_page.parquet", tmp / "p2/one.html", page_size=args.page_size, inline=False)
        small = min(_load_time(tmp / "p2/one.html") for _ in range(3))
        large = min(_load_time(tmp / "p2/big.html") for _ in range(3))

    print(f"\n{args.rows} rows, {args.page_size} cards per page, thumbnails 192 px; floor (plain loop) {floor:.1f} s = {args.rows / floor:.0f} rows/s\n")
    print(f"| {'run':<42} | {'seconds':>8} | {'rows/s':>8} | {'vs floor':>8} |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    for name, t, rate, ratio in results:
        print(f"| {name:<42} | {t:8.1f} | {rate:8.0f} | {ratio:7.2f}x |")
    print(f"\npage {page_kib:.0f} KiB + thumbnails {thumbs_mib:.1f} MiB")
    print(f"| {'chromium load + first page drawn':<42} | {'seconds':>8} |")
    print(f"|{'-' * 44}|{'-' * 10}|")
    print(f"| {f'{args.page_size} rows (baseline)':<42} | {small:8.2f} |")
    print(f"| {f'{args.rows} rows':<42} | {large:8.2f} |  ratio {large / small:.2f}x")


if __name__ == "__main__":
    main()
