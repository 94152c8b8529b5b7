"""The category vocabulary: entry-level names (Ordonez et al., the paper's [36]).

``refmatte/data/vocabulary.csv`` lists every name with its super-category (human, animal,
object), the COCO label Mask R-CNN gives it (all 80 COCO classes are covered) and
aliases: other words for it that source datasets use (SIM's ``plastic_bag``, AM-2k's
``cattle``). It is the single place a category name is decided.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

SUPERCATEGORIES = ("human", "animal", "object")


@dataclass(frozen=True)
class Entry:
    name: str
    supercategory: str
    coco: str | None
    aliases: tuple[str, ...]


def normalise(word: str) -> str:
    """``Plastic_Bag `` -> ``plastic bag``: how labels are compared."""
    return " ".join(word.replace("_", " ").replace("-", " ").lower().split())


def _text() -> str:
    return resources.files("refmatte").joinpath("data/vocabulary.csv").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def vocabulary_hash() -> str:
    """Content hash of the vocabulary file (annotations made with another one are redone)."""
    return hashlib.sha1(_text().encode()).hexdigest()[:12]


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, Entry]:
    """Every entry by name, in file order."""
    text = _text()
    entries = {}
    for r in csv.DictReader(text.splitlines()):
        aliases = tuple(normalise(a) for a in r["aliases"].split(";") if a.strip())
        entries[r["name"]] = Entry(r["name"], r["supercategory"], r["coco"] or None, aliases)
    return entries


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, Entry], dict[str, Entry]]:
    by_word, by_coco = {}, {}
    for e in vocabulary().values():
        for w in (e.name, *e.aliases):
            by_word.setdefault(normalise(w), e)
        if e.coco:
            by_coco[e.coco] = e
    return by_word, by_coco


def lookup(label: str | None) -> Entry | None:
    """The entry a label (a name or an alias, any case, ``_`` for spaces) stands for."""
    return _index()[0].get(normalise(label)) if label else None


def from_coco(label: str) -> Entry | None:
    """The entry of a COCO class name as torchvision spells it (``tv``, ``cell phone``)."""
    return _index()[1].get(label)
