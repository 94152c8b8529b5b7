"""The README's picture of `clipmat serve`: start it on CKPT, use the page in headless Chromium, screenshot it.

Usage: python tools/serve_screenshot.py CKPT IMAGE PHRASE [--out docs/serve.png]
(the README's: out/lc-stored/run/final.safetensors from tools/learning_check.py, a seen-val image, "girl").
Needs Debian's chromium and chromium-driver (setup.sh installs them) and the serve extra.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import browser  # noqa: E402  (the page driver the tests use)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("image")
    ap.add_argument("phrase")
    ap.add_argument("--out", default=str(ROOT / "docs/serve.png"))
    a = ap.parse_args()
    port = browser.free_port()
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        server = browser.start_server([a.checkpoint, "--device", "cpu"], port)
        driver = None
        try:
            driver = browser.chrome(Path(profile), 1280, 860)
            got = browser.submit(driver, f"http://127.0.0.1:{port}/", Path(a.image), a.phrase)
            driver.save_screenshot(a.out)
            print(f"{a.out}: {got['status']}")
        finally:
            if driver is not None:
                driver.quit()
            server.terminate()
            server.wait(30)

if __name__ == "__main__":
    main()
