"""Whether the model is being traced for export with symbolic image sizes (clipmat export --format onnx).

Two shortcuts of the forward pass compare sizes in Python (positional embeddings already at
the patch grid; a map already at the size asked for); a tracer turns such comparisons into
guards that fix the exported height and width. While :func:`symbolic_sizes` is active both
take the general path, which gives the same numbers (a same-size bicubic or bilinear
interpolation with ``align_corners=False`` is the identity).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

_active = False


@contextmanager
def symbolic_sizes() -> Iterator[None]:
    global _active
    before, _active = _active, True
    try:
        yield
    finally:
        _active = before


def tracing() -> bool:
    return _active or torch.compiler.is_exporting()
