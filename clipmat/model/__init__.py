"""CLIPMat's modules, one per file: backbone, prompt, TSP, MDE, decoders, and the model."""

from clipmat.model.clipmat import CLIPMat
from clipmat.model.decoders import TRIMAP_CLASSES, collaborate
from clipmat.model.prompt import TEMPLATES, keyword_prompt, tokenize

__all__ = ["CLIPMat", "TEMPLATES", "TRIMAP_CLASSES", "collaborate", "keyword_prompt", "tokenize"]
