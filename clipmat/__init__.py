"""clipmat: the CLIPMat reference model for Referring Image Matting (paper section 4).

The model library knows nothing of files or manifests: build a model with
:func:`build_model`, call it on images in [0, 1] and tokenised text, train it with
:class:`ClipMatLoss`, store it with :func:`save_checkpoint` / :func:`load_checkpoint`.
"""

__version__ = "0.1.0"

from clipmat.build import WeightsError, build_model, create_clip  # noqa: E402
from clipmat.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from clipmat.config import ClipMatConfig, ConfigError, get_config, list_models  # noqa: E402
from clipmat.losses import ClipMatLoss, LossWeights  # noqa: E402
from clipmat.model import CLIPMat, collaborate, keyword_prompt, tokenize  # noqa: E402

__all__ = [
    "CLIPMat", "CheckpointError", "ClipMatConfig", "ClipMatLoss", "ConfigError", "LossWeights", "WeightsError",
    "__version__", "build_model", "collaborate", "create_clip", "get_config", "keyword_prompt", "list_models",
    "load_checkpoint", "save_checkpoint", "tokenize",
]
