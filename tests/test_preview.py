"""`refmatte preview`: the page is built from the manifest and really renders in a browser."""

import base64
import json
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
from tests import browser

runner = CliRunner()


def cards(page):
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', page, re.S).group(1)
    return json.loads(data)


def test_entity_page_inlines_one_alpha_thumbnail_per_row(demo, tmp_path):
    s = render_preview(demo / "manifests/entities.parquet", tmp_path / "p.html")
    d = cards((tmp_path / "p.html").read_text())
    e = pd.read_parquet(demo / "manifests/entities.parquet")
    assert s.rows == s.pictures == len(e) == len(d["cards"]) and s.thumbs_dir is None
    assert d["counts"] == {"kept": len(e)}
    lines = [line for c in d["cards"] for line in c["l"]]  # the demo annotated: the cards show it
    assert sum(line.startswith("category by source") for line in lines) == len(e)
    assert any(line.startswith("STM · transparent") for line in lines) and any(line.startswith("aka ") for line in lines)
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


@pytest.fixture
def copy(demo, tmp_path):
    """A private copy of the demo's manifest folder, to damage."""
    shutil.copytree(demo / "manifests", tmp_path / "m")
    return tmp_path / "m"


def test_vanished_and_empty_caches_become_cards_without_pictures(copy, tmp_path):
    e = pd.read_parquet(copy / "entities.parquet")
    (copy / e.rgba_path[0]).unlink()
    (copy / e.rgba_path[1]).write_bytes(b"")
    s = render_preview(copy / "entities.parquet", tmp_path / "p.html")
    assert s.rows == len(e) and s.pictures == len(e) - 2
    assert s.missing == {"missing_file": 1, "unreadable_cache": 1}
    e.iloc[:0].to_parquet(copy / "empty.parquet")
    s = render_preview(copy / "empty.parquet", tmp_path / "empty.html")
    assert s.rows == 0 and cards((tmp_path / "empty.html").read_text())["cards"] == []


def test_out_may_not_overwrite_the_manifest(copy):
    r = runner.invoke(app, ["preview", str(copy / "entities.parquet"), "--out", str(copy / "entities.parquet")])
    assert r.exit_code == 2 and "must end in .html or .htm" in " ".join(r.output.split())
    assert pd.read_parquet(copy / "entities.parquet").shape[0] > 0


PAYLOAD = '<!--<script>{{DATA}}<img src=x onerror="document.body.dataset.pwned=1">&amp;'


def test_labels_and_paths_cannot_break_or_script_the_page(copy, tmp_path):
    e = pd.read_parquet(copy / "entities.parquet")
    e.loc[0, "source_label"] = e.loc[0, "category"] = PAYLOAD
    e.loc[1, "reject_reason"], e.loc[1, "reject_detail"] = "alpha_empty", PAYLOAD
    odd = copy / "{{DATA}} #1"
    odd.mkdir()
    e.to_parquet(odd / "x.parquet")
    shutil.copytree(copy / "cache", odd / "cache")
    page = tmp_path / "run #1 ?.html"
    render_preview(odd / "x.parquet", page, page_size=3, inline=False)
    d = cards(page.read_text())
    assert d["cards"][0]["t"].startswith(PAYLOAD)  # the label survives as text
    dom = _chromium(page, "--dump-dom").stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert "pwned" not in body and 'data-rendered="3"' in body and 'data-images-loaded="3"' in body, body


def test_cli_names_a_bad_manifest_in_one_sentence(tmp_path):
    bad = tmp_path / "x.parquet"
    bad.write_text("not parquet")
    r = runner.invoke(app, ["preview", str(bad)])
    assert r.exit_code == 2 and "x.parquet is not a readable Parquet manifest" in r.output and "Traceback" not in r.output
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "y.parquet")
    r = runner.invoke(app, ["preview", str(tmp_path / "y.parquet")])
    assert r.exit_code == 2 and "is not a refmatte manifest" in r.output


def _browser():
    if path := browser.find(browser.BROWSERS):
        return path
    pytest.skip("no chromium on PATH (bash setup.sh installs it)")  # under CI a failure (conftest)


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


def test_composite_page_shows_each_image_with_its_mattes(demo, tmp_path):
    train = pd.read_parquet(demo / "manifests/train.parquet")
    page = tmp_path / "train.html"
    s = render_preview(demo / "manifests/train.parquet", page, page_size=8)
    d = cards(page.read_text())
    assert s.rows == train.image_id.nunique() == len(d["cards"]) and s.pictures == s.rows
    first = train[train.image_id == d["cards"][0]["id"]].sort_values("slot")
    assert d["cards"][0]["t"].startswith(first.arrangement.iloc[0]) and len(d["cards"][0]["l"]) >= 2 + len(first)
    thumb = cv2.imdecode(np.frombuffer(base64.b64decode(d["cards"][0]["s"].split(",", 1)[1]), np.uint8), cv2.IMREAD_UNCHANGED)
    h, w = int(first.height.iloc[0]), int(first.width.iloc[0])
    assert thumb.shape[0] / thumb.shape[1] == pytest.approx((h + h // len(first)) / w, abs=0.05)  # composite + matte row
    assert "Twemoji" in page.read_text()  # the pool's art is credited on composite pages too
    dom = _chromium(page, "--dump-dom").stdout
    body = re.search(r"<body[^>]*>", dom).group(0)
    assert 'data-rendered="8"' in body and 'data-images-loaded="8"' in body, body
