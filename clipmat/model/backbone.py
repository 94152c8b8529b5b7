"""CLIP image and text encoders without their final projections (paper 4.3).

Both wrap the modules of an open_clip ``CLIP`` model, so any weights open_clip loads load
here. The projections, the image tower's final norm and the logit scale are dropped: TSP and
MDE read per-token features at the encoders' own widths.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from clipmat.model.tracing import tracing

END_OF_TEXT = 49407  # CLIP BPE id of <end_of_text>


class ImageEncoder(nn.Module):
    """ViT image tower returning the tokens of chosen blocks.

    Inputs of any size work: positional embeddings are interpolated (bicubic) when the
    patch grid differs from the one the weights were made for. Pixels past the last whole
    patch are ignored, as in the ViT's strided patch convolution.
    """

    def __init__(self, visual: nn.Module, blocks: tuple[int, ...]):
        super().__init__()
        self.conv1 = visual.conv1
        self.class_embedding = visual.class_embedding
        self.positional_embedding = visual.positional_embedding
        self.ln_pre = visual.ln_pre
        self.transformer = visual.transformer
        self.transformer.prune_intermediate_layers(list(blocks))  # blocks past the last one used are never run
        self.blocks = tuple(blocks)
        self.grid = tuple(visual.grid_size)
        self.patch = self.conv1.kernel_size[0]
        self.width = self.conv1.out_channels

    def positions(self, h: int, w: int) -> torch.Tensor:
        """Positional embeddings for an ``h`` x ``w`` patch grid, shape (1 + h*w, width)."""
        if not tracing() and (h, w) == self.grid:  # traced for export: the general path (clipmat.model.tracing)
            return self.positional_embedding
        cls, grid = self.positional_embedding[:1], self.positional_embedding[1:]
        grid = grid.reshape(1, *self.grid, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
        return torch.cat([cls, grid.flatten(2)[0].T], dim=0)

    def forward(self, image: torch.Tensor) -> tuple[list[torch.Tensor], tuple[int, int]]:
        """Normalised image (B, 3, H, W) -> tokens (B, 1 + h*w, width) of each chosen block, and (h, w)."""
        x = self.conv1(image)  # (B, width, h, w)
        h, w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)  # (B, h*w, width)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positions(h, w).to(x.dtype)
        x = self.ln_pre(x)
        _, tokens = self.transformer.forward_intermediates(x, indices=list(self.blocks), stop_early=True)
        return tokens, (h, w)


class TextEncoder(nn.Module):
    """CLIP text transformer returning per-token features, with learnable context appended.

    The context vectors (paper 4.2, post-embedding context) are inserted in embedding space
    after the tokenised text, get the next positional embeddings and pass the causal
    transformer with it: they read the whole text, the text cannot read them.
    """

    def __init__(self, clip: nn.Module):
        super().__init__()
        self.token_embedding = clip.token_embedding
        self.positional_embedding = clip.positional_embedding
        self.transformer = clip.transformer
        self.ln_final = clip.ln_final
        self.register_buffer("attn_mask", clip.attn_mask, persistent=False)
        self.width = self.token_embedding.embedding_dim
        self.max_length = self.positional_embedding.shape[0]

    def forward(self, tokens: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids (B, Lt) and context (C, width) -> features (B, Lt + C, width) and padding (B, Lt + C).

        ``padding`` is True at the pad tokens after the end-of-text token, which attention
        downstream should ignore.
        """
        b, lt = tokens.shape
        length = lt + context.shape[0]
        if length > self.max_length:
            raise ValueError(f"text of {lt} tokens plus {context.shape[0]} context tokens exceeds "
                             f"the text encoder's {self.max_length} positions")
        x = self.token_embedding(tokens)  # (B, Lt, width)
        x = torch.cat([x, context.to(x.dtype).expand(b, -1, -1)], dim=1)  # (B, L, width)
        x = x + self.positional_embedding[:length].to(x.dtype)
        mask = None if self.attn_mask is None else self.attn_mask[:length, :length]
        x = self.ln_final(self.transformer(x, attn_mask=mask))
        end = tokens == END_OF_TEXT
        after_end = (end.cumsum(dim=1) - end.long()) > 0  # token id 0 is also a real BPE token: use the position
        padding = torch.cat([after_end, tokens.new_zeros(b, context.shape[0], dtype=torch.bool)], dim=1)
        return x, padding
