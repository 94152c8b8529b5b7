"""Context-embedded prompt (paper 4.2).

Pre-embedding context: a keyword is put into a matting template before tokenisation
("the foreground of {}"), drawn at random in training and fixed at evaluation.
Post-embedding context: learnable vectors appended after the tokenised text
(:class:`PromptContext`; see :class:`clipmat.model.backbone.TextEncoder`).
"""

from __future__ import annotations

import numpy as np
import open_clip
import torch
from torch import nn

# The first template is the one used at evaluation.
TEMPLATES = (
    "the foreground of {}",
    "the mask of {}",
    "to extract the {}",
    "the alpha matte of {}",
    "the matte of the {}",
    "to cut out the {}",
    "the {} in the foreground",
    "the soft mask of the {}",
    "to separate the {} from the background",
    "the transparency of the {}",
)


def keyword_prompt(keyword: str, rng: np.random.Generator | None = None, templates: bool = True) -> str:
    """``keyword`` in a matting template: a random one from ``rng``, or the first when None;
    bare with ``templates=False`` (the pre-embedding context ablated, Table 3)."""
    if not templates:
        return keyword
    template = TEMPLATES[0] if rng is None else TEMPLATES[int(rng.integers(len(TEMPLATES)))]
    return template.format(keyword)


def tokenize(texts: list[str], length: int) -> torch.Tensor:
    """CLIP BPE token ids, shape (len(texts), length), int64.

    Each row is start token, text, end token, zero padding; text too long for ``length``
    is cut and still ends with the end token.
    """
    return open_clip.tokenize(texts, context_length=length)


def token_count(text: str) -> int:
    """Tokens ``text`` takes, start and end tokens included (what :func:`tokenize` would need to keep it whole)."""
    return int((open_clip.tokenize([text], context_length=4 * len(text) + 8)[0] != 0).sum())


class PromptContext(nn.Module):
    """``count`` learnable context vectors of the text encoder's width, initialised N(0, 0.02)."""

    def __init__(self, count: int, width: int):
        super().__init__()
        self.vectors = nn.Parameter(torch.randn(count, width) * 0.02)

    def forward(self) -> torch.Tensor:
        return self.vectors  # (count, width)
