"""The entity and background filters of paper section 3.1, each recorded as a reject reason.

Every threshold is a field of :class:`FilterOptions` (and a ``refmatte ingest`` option).
"""

from __future__ import annotations

from dataclasses import dataclass

# code -> meaning; rendered into docs/datasheet.md. Order is the order of the checks.
REJECT_REASONS: dict[str, str] = {
    "duplicate_stem": "Another file of the same stem in the same folder was paired instead (e.g. a.jpg next to a.png).",
    "missing_image": "The matte has no image of the same stem.",
    "missing_alpha": "The image has no matte of the same stem.",
    "unreadable_image": "The image cannot be decoded (truncated, corrupt or not an image).",
    "unreadable_alpha": "The matte cannot be decoded (truncated, corrupt, not an image, or a float matte holding NaN).",
    "too_many_pixels": "The image or matte has more pixels than the cap (`--max-pixels`, default 100 MP): refused before decoding.",
    "alpha_size_mismatch": "The matte's size differs from the image's (after EXIF orientation; the detail says when the matte fits the image's stored, unrotated orientation).",
    "too_small": "The image's short side is below `min_side` (low resolution).",
    "alpha_empty": "The matte covers less than `min_area_fraction` of the image (empty or near-empty).",
    "alpha_full": "At least `max_opaque_fraction` of the image is fully opaque: no entity to cut out.",
    "alpha_binary": "A source that should have soft edges gives a hard mask: transition band narrower than `min_band_px`.",
    "identifiable_face": "A frontal face was found on a human entity of a source the paper filters (SIM, DIM, D646, folders).",
}


@dataclass(frozen=True)
class FilterOptions:
    """Thresholds of the quality filters (paper 3.1: high resolution, fine alpha, no faces)."""

    min_side: int = 400  # px: shortest image side kept
    min_area_fraction: float = 0.005  # share of the image the matte must cover (alpha > 0)
    max_opaque_fraction: float = 0.98  # share of fully opaque pixels above which the matte is "everything"
    min_band_px: float = 0.5  # px: mean transition-band width below which a matte is a hard binary mask
    min_face_fraction: float = 0.05  # a face smaller than this share of the short side is not identifiable


def check_size(width: int, height: int, opts: FilterOptions) -> tuple[str, str] | None:
    if min(width, height) < opts.min_side:
        return "too_small", f"{width}x{height} px, short side below {opts.min_side} px"
    return None


def check_alpha(stats: dict, opts: FilterOptions, soft_edges: bool) -> tuple[str, str] | None:
    """Return ``(reason, detail)`` for the first alpha-quality check that fails, else None."""
    if stats["alpha_area_fraction"] < opts.min_area_fraction:
        return "alpha_empty", f"matte covers {stats['alpha_area_fraction']:.4f} of the image (< {opts.min_area_fraction})"
    if stats["alpha_opaque_fraction"] >= opts.max_opaque_fraction:
        return "alpha_full", f"{stats['alpha_opaque_fraction']:.3f} of the image is opaque (>= {opts.max_opaque_fraction})"
    if soft_edges and stats["alpha_band_px"] < opts.min_band_px:
        return "alpha_binary", f"transition band {stats['alpha_band_px']:.2f} px (< {opts.min_band_px} px)"
    return None
