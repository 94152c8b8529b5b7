"""refmatte: the RefMatte dataset synthesis toolkit (Li et al., "Referring Image Matting", section 3).

Stages, each a subpackage or module with one job:

- ``sources``: one adapter per public matting dataset, all yielding :class:`~refmatte.sources.SourceItem`.
- ``ingest``: turns source items into the entity and background manifests (``schema``).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
