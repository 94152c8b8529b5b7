"""Screenshot of the demo's entity preview for the README (docs/preview.png).

Usage: python tools/shoot_preview.py  (runs the demo into a temporary folder; needs chromium)
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import os

import cv2

from refmatte.cli import app

DOCS = Path(__file__).resolve().parent.parent / "docs"

if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # so the page's title shows the README's path, out/demo/...
        app(["demo", "out/demo"], standalone_mode=False)
        shot = Path(tmp) / "shot.png"
        browser = shutil.which("chromium") or shutil.which("google-chrome")
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,860",
                        "--virtual-time-budget=8000", f"--screenshot={shot}", (Path(tmp) / "out/demo/preview/entities.html").as_uri()],
                       check=True, capture_output=True)
        img = cv2.imread(str(shot))
        cv2.imwrite(str(DOCS / "preview.png"), cv2.resize(img, (960, 645), interpolation=cv2.INTER_AREA), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {DOCS / 'preview.png'}")
