"""Regenerate docs/datasheet.md and docs/cli.md from the code (tests fail when they drift).

Usage: python tools/gen_docs.py
"""

from pathlib import Path

from refmatte.clidoc import render_all

DOCS = Path(__file__).resolve().parent.parent / "docs"

if __name__ == "__main__":
    for name, text in render_all().items():
        (DOCS / name).write_text(text)
        print(f"wrote {DOCS / name}")
