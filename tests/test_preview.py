"""`refmatte preview`: the page is built from the manifest and really renders in a browser."""

import base64
import json
import os
import re
import shutil
import subprocess

import cv2
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from refmatte.cli import app
from refmatte.preview import render_preview

runner = CliRunner()
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def cards(page):
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1)
    return json.loads(data.replace("<\\/", "</"))


def test_entity_page_inlines_one_alpha_thumbnail_per_row(demo, tmp_path):
    s = render_preview(demo / "manifests/entities.parquet", tmp_path / "p.html")
    d = cards((tmp_path / "p.html").read_text())
    e = pd.read_parquet(demo / "manifests/entities.parquet")
    assert s.rows == s.pictures == len(e) == len(d["cards"]) and s.thumbs_dir is None
    assert d["counts"] == {"kept": len(e)}
    thumb = cv2.imdecode(np.frombuffer(base64.b64decode(d["cards"][0]["s"].split(",", 1)[1]), np.uint8), cv2.IMREAD_UNCHANGED)
    assert thumb.shape[2] == 4 and max(thumb.shape[:2]) == 192
    assert thumb[..., 3].min() == 0 and thumb[..., 3].max() == 255


def test_rejected_rows_show_their_reason_and_why_a_picture_is_missing(ingested, tmp_path):
    out, e, _ = ingested
    s = render_preview(out / "entities.parquet", tmp_path / "p.html")
    d = cards((tmp_path / "p.html").read_text())
    assert d["counts"]["kept"] == e.reject_reason.isna().sum()
    assert sum(n for k, n in d["counts"].items() if k != "kept") == e.reject_reason.notna().sum()
    no_pic = [c for c in d["cards"] if c["s"] is None]
    assert no_pic and all(c["w"] for c in no_pic) and sum(s.missing.values()) == len(no_pic)
    unreadable = [c for c in d["cards"] if c["r"] == "unreadable_image"]
    assert unreadable and all(c["s"] is None for c in unreadable)


def test_files_mode_writes_thumbnails_next_to_the_page_and_reuses_them(demo, tmp_path):
    page = tmp_path / "b.html"
    s = render_preview(demo / "manifests/backgrounds.parquet", page, inline=False)
    thumbs = sorted(s.thumbs_dir.glob("*.webp"))
    assert len(thumbs) == s.rows and s.thumbs_dir == tmp_path / "b_files"
    stamps = [t.stat().st_mtime_ns for t in thumbs]
    render_preview(demo / "manifests/backgrounds.parquet", page, inline=False)
    assert [t.stat().st_mtime_ns for t in thumbs] == stamps
    assert all(c["s"].startswith("b_files/") for c in cards(page.read_text())["cards"])


def test_cli_names_a_bad_manifest_in_one_sentence(tmp_path):
    bad = tmp_path / "x.parquet"
    bad.write_text("not parquet")
    r = runner.invoke(app, ["preview", str(bad)])
    assert r.exit_code == 2 and "x.parquet is not a readable Parquet manifest" in r.output and "Traceback" not in r.output
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "y.parquet")
    r = runner.invoke(app, ["preview", str(tmp_path / "y.parquet")])
    assert r.exit_code == 2 and "is not a refmatte manifest" in r.output


def _browser():
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    if os.environ.get("CI"):
        pytest.fail("no chromium on PATH: setup.sh installs it (apt package chromium)")
    pytest.skip("no chromium on PATH (bash setup.sh installs it)")


def _chromium(page, *args):
    cmd = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--disable-background-networking", "--no-first-run", "--hide-scrollbars",
           "--virtual-time-budget=8000", *args, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("inline", [True, False])
def test_page_renders_its_pictures_in_a_real_browser(demo, tmp_path, inline):
    page = tmp_path / "entities.html"
    render_preview(demo / "manifests/entities.parquet", page, page_size=12, inline=inline)
    dom = _chromium(page, "--dump-dom").stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-rendered="12"' in body and 'data-images-loaded="12"' in body, body
    assert dom.count("<img") == 12 and "page 1 of 4" in dom
    shot = tmp_path / "shot.png"
    _chromium(page, f"--screenshot={shot}", "--window-size=1200,1000")
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (1000, 1200)
    grid = img[250:, :]  # below the header: the cards
    assert grid.std() > 30, "the screenshot is blank"
    # saturated colour comes only from the pictures (the page itself is grey and white)
    hsv = cv2.cvtColor(grid, cv2.COLOR_BGR2HSV)
    assert (hsv[..., 1] > 100).mean() > 0.02


def test_thumbnail_keeps_the_colour_of_thin_semi_transparent_structure():
    from refmatte.preview import thumbnail

    rgba = np.zeros((64, 64, 4), np.uint8)  # colour under alpha 0 is black, as in many caches
    rgba[:, 31, :] = 255  # one white, opaque, 1-px hair
    small = cv2.imdecode(np.frombuffer(thumbnail(rgba, 16), np.uint8), cv2.IMREAD_UNCHANGED)
    hair = small[..., 3] > 0
    assert small.shape == (16, 16, 4) and hair.any()
    assert small[..., :3][hair].min() > 230, "a naive resize would darken the hair towards black"
