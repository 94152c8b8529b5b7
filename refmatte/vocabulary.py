"""The category vocabulary: entry-level names (Ordonez et al., the paper's [36]).

``refmatte/data/vocabulary.csv`` lists every name with its super-category (human, animal,
object), the COCO label Mask R-CNN gives it (all 80 COCO classes are covered) and
aliases: other words for it that source datasets use (SIM's ``plastic_bag``, AM-2k's
``cattle``). It is the single place a category name is decided. A user adds names (or
aliases of shipped names) with a CSV of the same columns: ``refmatte --vocabulary FILE``
(or ``REFMATTE_VOCABULARY``), never by editing the installed file.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

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


VOCABULARY_ENV = "REFMATTE_VOCABULARY"  # a CSV of names to add (refmatte --vocabulary FILE)


class VocabularyError(ValueError):
    """A vocabulary file that cannot be used (one sentence naming the file and the line)."""


def _text() -> str:
    return resources.files("refmatte").joinpath("data/vocabulary.csv").read_text(encoding="utf-8")


def _extra_key() -> tuple[str, int] | None:
    """(path, mtime) of the user's vocabulary file, so the caches follow it; None without one."""
    path = os.environ.get(VOCABULARY_ENV)
    if not path:
        return None
    try:
        return path, Path(path).stat().st_mtime_ns
    except OSError:
        raise VocabularyError(f"vocabulary file {path} not found ({VOCABULARY_ENV} or --vocabulary).") from None


def vocabulary_hash() -> str:
    """Content hash of the vocabulary in use (annotations made with another one are redone)."""
    return _hash(_extra_key())


@lru_cache(maxsize=4)
def _hash(extra: tuple[str, int] | None) -> str:
    text = _text() + ("" if extra is None else Path(extra[0]).read_text(encoding="utf-8"))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _read(text: str) -> list[dict]:
    return list(csv.DictReader(text.splitlines()))


def vocabulary(extra: bool = True) -> dict[str, Entry]:
    """Every entry by name, in file order: the shipped names, then the user's file (``extra``)."""
    return _vocabulary(_extra_key() if extra else None)


@lru_cache(maxsize=4)
def _vocabulary(extra: tuple[str, int] | None) -> dict[str, Entry]:
    entries = {}
    for r in _read(_text()):
        aliases = tuple(normalise(a) for a in r["aliases"].split(";") if a.strip())
        entries[r["name"]] = Entry(r["name"], r["supercategory"], r["coco"] or None, aliases)
    if extra is not None:
        entries = _add(entries, Path(extra[0]))
    return entries


def _add(entries: dict[str, Entry], path: Path) -> dict[str, Entry]:
    """The shipped entries plus the file's: new names, or more aliases for a shipped name."""
    try:
        rows = _read(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise VocabularyError(f"vocabulary file {path} is not a readable UTF-8 CSV ({e}).") from None
    if not rows or not {"name", "supercategory"} <= set(rows[0]):
        raise VocabularyError(f"vocabulary file {path} needs the columns name,supercategory (and optionally "
                              "coco,aliases), as refmatte/data/vocabulary.csv.")
    entries = dict(entries)
    for line, r in enumerate(rows, start=2):
        name, sup = normalise(r.get("name") or ""), (r.get("supercategory") or "").strip()
        if not name or sup not in SUPERCATEGORIES:
            raise VocabularyError(f"{path} line {line}: give a name and a supercategory of {', '.join(SUPERCATEGORIES)}.")
        aliases = tuple(normalise(a) for a in (r.get("aliases") or "").split(";") if a.strip())
        known = entries.get(name)
        if known is not None and known.supercategory != sup:
            raise VocabularyError(f"{path} line {line}: {name} is already a {known.supercategory} in the vocabulary.")
        entries[name] = Entry(name, sup, (r.get("coco") or "").strip() or (known and known.coco),
                              (known.aliases if known else ()) + aliases)
    return entries


def _index() -> tuple[dict[str, Entry], dict[str, Entry]]:
    return _built_index(_extra_key())


@lru_cache(maxsize=4)
def _built_index(extra: tuple[str, int] | None) -> tuple[dict[str, Entry], dict[str, Entry]]:
    by_word, by_coco = {}, {}
    for e in _vocabulary(extra).values():
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
