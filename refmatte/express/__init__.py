"""Referring expressions for composed scenes (paper 3.2): grammar data, checked generation."""

from refmatte.express.engine import express_image
from refmatte.express.run import express_rows, express_manifest

__all__ = ["express_image", "express_manifest", "express_rows"]
