"""TSP, text-driven semantic pop-up (paper 4.3)."""

from __future__ import annotations

import torch
from torch import nn


def _project(width: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim), nn.LayerNorm(dim))


class TextDrivenSemanticPopUp(nn.Module):
    """Visual tokens attend to text tokens, then to themselves; out comes a feature map.

    Both token sets go through layer norm, linear and layer norm to a common width ``dim``.
    Cross-attention (visual queries, text keys and values) and self-attention each add to
    the visual tokens (residual); layer norm and an MLP give ``out`` channels. The class
    token is dropped and the patch tokens are laid back on their grid.
    """

    def __init__(self, visual_width: int, text_width: int, dim: int, heads: int, out: int, mlp_ratio: int = 4):
        super().__init__()
        self.visual_in = _project(visual_width, dim)
        self.text_in = _project(text_width, dim)
        self.cross = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.self_norm = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.out_norm = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, out))

    def forward(self, visual: torch.Tensor, text: torch.Tensor, text_padding: torch.Tensor,
                grid: tuple[int, int], attend: bool = True) -> torch.Tensor:
        """Visual (B, 1 + h*w, Dv), text (B, L, Dt), padding (B, L) bool -> (B, out, h, w).

        ``attend=False`` is Table 3's "without TSP": no attention, the visual tokens pass the
        same input projection, norm and MLP, and the text is not used."""
        v = self.visual_in(visual)  # (B, 1 + h*w, D)
        if attend:
            t = self.text_in(text)  # (B, L, D)
            v = v + self.cross(v, t, t, key_padding_mask=text_padding, need_weights=False)[0]
            s = self.self_norm(v)
            v = v + self.self_attn(s, s, s, need_weights=False)[0]
        v = self.mlp(self.out_norm(v))  # (B, 1 + h*w, out)
        h, w = grid
        return v[:, 1:].transpose(1, 2).reshape(v.shape[0], -1, h, w)
