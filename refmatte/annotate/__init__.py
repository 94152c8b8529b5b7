"""`refmatte annotate`: the annotators of paper section 3.1, each filling its own columns.

Order matters where one reads another's output: category before synonyms and people.
"""

from refmatte.annotate.base import AnnotateSummary, Annotator, WeightsMissing, annotate

ANNOTATORS = ("category", "synonyms", "color", "traits", "people", "clothes")

__all__ = ["ANNOTATORS", "AnnotateSummary", "Annotator", "WeightsMissing", "annotate"]
