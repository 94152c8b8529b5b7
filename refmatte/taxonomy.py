"""Which vocabulary names are broader than others, so that a name is checked against every
entity it fits: "the person" fits a woman and a man, "the bird" a parrot (issue 14).

``build_taxonomy()`` takes, for every vocabulary name, the WordNet hypernym closure of the
sense the synonyms table uses (:func:`refmatte.synonyms.wordnet_synonyms`'s), keeps the
vocabulary names found in it, applies the reviewed overrides in
``refmatte/data/taxonomy_overrides.csv`` (``name,action,broader``: WordNet's "girl" is a
kind of woman, its "peacock" a butterfly, its "plant" a factory), and closes the result
transitively. The table, ``refmatte/data/taxonomy.csv``, is committed: composing and
expressing only read it. ``refmatte synonyms taxonomy`` rewrites it, ``--check`` fails
when it is stale. Every animal also fits the word "animal" (``SUPER_WORDS``), which the
official expressions use.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources
from pathlib import Path

from refmatte.vocabulary import vocabulary

TABLE = "data/taxonomy.csv"
OVERRIDES = "data/taxonomy_overrides.csv"
SUPER_WORDS = {"animal": "animal"}  # a word that fits every entity of that super-category


def _read(name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(resources.files("refmatte").joinpath(name).read_text(encoding="utf-8"))))


def read_overrides() -> list[dict]:
    names = vocabulary(extra=False)
    rows = _read(OVERRIDES)
    for r in rows:
        if r["name"] not in names or r["broader"] not in names or r["action"] not in ("add", "reject"):
            raise ValueError(f"{OVERRIDES}: bad row {r} (both names in the vocabulary, action add or reject).")
    return rows


def _close(direct: dict[str, set[str]]) -> dict[str, set[str]]:
    closed = {}
    for name in direct:
        seen, todo = set(), list(direct[name])
        while todo:
            b = todo.pop()
            if b not in seen and b != name:
                seen.add(b)
                todo += direct.get(b, ())
        closed[name] = seen
    return closed


def build_taxonomy(wn=None) -> dict[str, list[str]]:
    """name -> sorted broader vocabulary names: WordNet hypernyms, the reviewed overrides, closed."""
    from refmatte.synonyms import SENSE_FILES, wordnet

    wn = wn or wordnet()
    senses = {}
    for name, e in vocabulary(extra=False).items():
        synsets = [s for s in wn.synsets(name.replace(" ", "_"), pos=wn.NOUN) if s.lexname() in SENSE_FILES[e.supercategory]]
        senses[name] = synsets[0] if synsets else None
    by_sense: dict[object, set[str]] = {}
    for name, s in senses.items():
        if s is not None:
            by_sense.setdefault(s, set()).add(name)
    direct = {name: ({n for h in s.closure(lambda x: x.hypernyms()) for n in by_sense.get(h, ())} - {name}
                     if s is not None else set()) for name, s in senses.items()}
    for r in read_overrides():
        (direct[r["name"]].discard if r["action"] == "reject" else direct[r["name"]].add)(r["broader"])
    return {name: sorted(b) for name, b in _close(direct).items()}


def render_taxonomy(table: dict[str, list[str]]) -> str:
    from refmatte.synonyms import render_table

    return render_table(table, "broader")


def table_path() -> Path:
    return Path(str(resources.files("refmatte").joinpath(TABLE)))


@lru_cache(maxsize=1)
def _committed() -> dict[str, frozenset[str]]:
    return {r["name"]: frozenset(w for w in r["broader"].split(";") if w) for r in _read(TABLE)}


@lru_cache(maxsize=1)
def _synonyms() -> dict[str, list[str]]:
    from refmatte.synonyms import committed_table

    return committed_table()


def broader(category: str) -> frozenset[str]:
    """Names more general than ``category`` (not itself): vocabulary names, and "animal" for animals."""
    words = set(_committed().get(category, ()))
    entry = vocabulary().get(category)
    words |= {w for w, sup in SUPER_WORDS.items() if entry is not None and entry.supercategory == sup}
    return frozenset(words)


def name_fits(name: str, category: str, synonyms_of: dict[str, list[str]] | None = None) -> bool:
    """Whether the noun ``name`` describes an entity of ``category``: the category itself, a synonym of
    it, a broader name, or a synonym of a broader name ("human" fits a woman through person)."""
    synonyms_of = _synonyms() if synonyms_of is None else synonyms_of
    for c in (category, *broader(category)):
        if name == c or name in synonyms_of.get(c, ()):
            return True
    return False


def related(a: str, b: str) -> bool:
    """Whether categories ``a`` and ``b`` could be confused by name: equal, one broader than the
    other, or sharing a synonym (the keyword setting drops such pairs)."""
    if a == b or a in broader(b) or b in broader(a):
        return True
    syn = _synonyms()
    return bool(({a, *syn.get(a, ())}) & ({b, *syn.get(b, ())}))
