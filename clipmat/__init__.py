"""clipmat: the CLIPMat reference model for Referring Image Matting (paper section 4)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
