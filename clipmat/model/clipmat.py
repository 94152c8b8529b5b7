"""CLIPMat (paper section 4, figure 4): the modules put together."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from clipmat.config import ClipMatConfig
from clipmat.model.backbone import ImageEncoder, TextEncoder
from clipmat.model.decoders import DetailsDecoder, SemanticDecoder, collaborate
from clipmat.model.mde import MultiLevelDetailsExtractor
from clipmat.model.prompt import PromptContext
from clipmat.model.tsp import TextDrivenSemanticPopUp


class CLIPMat(nn.Module):
    """Image and tokenised text in, trimap logits and alpha mattes out.

    Built from an open_clip ``CLIP`` model (:func:`clipmat.build_model` makes one with
    weights); only its encoders are kept. ``forward`` takes RGB in [0, 1] and normalises
    with the CLIP weights' mean and std itself, so data code needs to know nothing of the
    backbone.
    """

    def __init__(self, config: ClipMatConfig, clip: nn.Module):
        super().__init__()
        self.config = config
        self.image_encoder = ImageEncoder(clip.visual, config.detail_blocks)
        self.text_encoder = TextEncoder(clip)
        self.context = PromptContext(config.context_tokens, self.text_encoder.width)
        vw, tw = self.image_encoder.width, self.text_encoder.width
        self.tsp = TextDrivenSemanticPopUp(vw, tw, config.tsp_dim, config.tsp_heads, config.tsp_out)
        self.semantic = SemanticDecoder(config.tsp_out, config.semantic_channels)
        self.mde = MultiLevelDetailsExtractor(vw, config.mde_image_channels, config.details_channels,
                                              self.image_encoder.patch)
        self.details = DetailsDecoder(vw, config.details_channels)
        self.register_buffer("mean", torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(config.std).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        """Predict mattes.

        Parameters
        ----------
        image : (B, 3, H, W) float RGB in [0, 1]; any H, W of at least one patch.
        tokens : (B, Lt) int64 token ids from :func:`clipmat.model.prompt.tokenize`,
            Lt + context tokens <= 77.

        Returns
        -------
        dict with ``trimap_logits`` (B, 3, H, W), ``details`` (B, 1, H, W) in [0, 1] and
        ``alpha`` (B, 1, H, W) in [0, 1], the fused matte: the names of
        :class:`clipmat.losses.ClipMatLoss`'s arguments.
        """
        if image.shape[0] != tokens.shape[0]:
            raise ValueError(f"{image.shape[0]} images but {tokens.shape[0]} texts: pass one text per image")
        patch = self.image_encoder.patch
        if min(image.shape[-2:]) < patch:
            raise ValueError(f"image of {image.shape[-1]}x{image.shape[-2]} px is smaller than one {patch} px patch")
        h, w = image.shape[-2:]
        x = (image - self.mean) / self.std
        # Pad (zeros = the mean colour) to whole patches so the features cover every pixel; crop at the end.
        x = F.pad(x, (0, -w % patch, 0, -h % patch))
        size = tuple(x.shape[-2:])
        tokens_per_block, grid = self.image_encoder(x)  # each (B, 1 + h*w, Dv)
        text, padding = self.text_encoder(tokens, self.context())  # (B, L, Dt), (B, L)
        semantic = self.tsp(tokens_per_block[-1], text, padding, grid, attend=self.config.tsp)  # (B, D', h, w)
        trimap_logits = self.semantic(semantic, size)
        maps = [_grid(t, grid) for t in tokens_per_block]  # each (B, Dv, h, w)
        sizes = self.details.level_sizes(grid, len(maps))
        extracted = self.mde(maps[::-1], x, sizes) if self.config.mde else [None] * len(maps)  # deepest -> coarsest
        details = self.details(maps[-1], extracted, size)
        trimap_logits, details = trimap_logits[..., :h, :w], details[..., :h, :w]
        return {"trimap_logits": trimap_logits, "details": details, "alpha": collaborate(trimap_logits, details)}


def _grid(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, 1 + h*w, D) tokens -> (B, D, h, w) map of the patch tokens."""
    return tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], -1, *grid)
