"""Category synonyms (paper 3.1): WordNet via nltk, then hand checks, into a committed table.

``build_table()`` takes, for every vocabulary name, the lemmas of its most common WordNet
noun sense, drops Latin binomials and odd words, then applies the reviewed overrides in
``refmatte/data/synonyms_overrides.csv`` (``name,action,synonym`` with action ``reject``
or ``add``). The result, ``refmatte/data/synonyms.csv``, is committed: annotating and
composing only read it, so they never need WordNet. ``refmatte synonyms build`` rewrites
it; ``--check`` fails when it is stale.

WordNet offline: Debian's ``wordnet-base`` holds WordNet 3.0 but not the ``lexnames`` file
nltk wants; :func:`install_wordnet` copies it under ``<venv>/nltk_data`` (a folder nltk
searches) and writes ``lexnames``. Online: ``python -c "import nltk; nltk.download('wordnet')"``.
"""

from __future__ import annotations

import csv
import io
import shutil
import sys
from importlib import resources
from pathlib import Path

from refmatte.vocabulary import normalise, vocabulary

TABLE = "data/synonyms.csv"
OVERRIDES = "data/synonyms_overrides.csv"
DEBIAN_WORDNET = Path("/usr/share/wordnet")
# The 45 lexicographer files of WordNet 3.0 (lexnames(5WN)), with their syntactic category.
LEXNAMES = (
    ["adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact", "noun.attribute",
     "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling", "noun.food", "noun.group",
     "noun.location", "noun.motive", "noun.object", "noun.person", "noun.phenomenon", "noun.plant", "noun.possession",
     "noun.process", "noun.quantity", "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
     "verb.body", "verb.change", "verb.cognition", "verb.communication", "verb.competition", "verb.consumption",
     "verb.contact", "verb.creation", "verb.emotion", "verb.motion", "verb.perception", "verb.possession",
     "verb.social", "verb.stative", "verb.weather", "adj.ppl"]
)
_SYNTACTIC = {"adj": 3, "adv": 4, "noun": 1, "verb": 2}


class WordNetMissing(Exception):
    """WordNet is not installed where nltk looks (one-sentence message)."""


def install_wordnet(source: Path = DEBIAN_WORDNET, data_dir: Path | None = None) -> Path:
    """Copy Debian's WordNet into an nltk data folder and add ``lexnames``; returns the corpus folder."""
    data_dir = Path(data_dir or Path(sys.prefix) / "nltk_data")
    if not (source / "data.noun").is_file():
        raise WordNetMissing(f"no WordNet in {source}: install Debian's wordnet-base (apt install wordnet-base), or run nltk.download('wordnet') when online.")
    dest = data_dir / "corpora" / "wordnet"
    dest.mkdir(parents=True, exist_ok=True)
    for f in source.iterdir():
        if f.is_file():
            shutil.copy2(f, dest / f.name)
    lines = [f"{i:02d}\t{name}\t{_SYNTACTIC[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES)]
    (dest / "lexnames").write_text("".join(lines))
    return dest


def wordnet():
    """nltk's WordNet reader; :class:`WordNetMissing` when the corpus is not installed."""
    from nltk.corpus import wordnet as wn

    try:
        wn.ensure_loaded()
    except LookupError:
        raise WordNetMissing(
            "WordNet is not installed for nltk: run `refmatte synonyms install-wordnet` (after apt install wordnet-base), "
            "or nltk.download('wordnet') when online."
        ) from None
    return wn


# WordNet lexicographer files a sense may come from, per super-category: "net" is the
# artifact, not the internet; "seal" the animal, not the wax.
SENSE_FILES = {
    "human": ("noun.Tops", "noun.person"),
    "animal": ("noun.animal",),
    "object": ("noun.artifact", "noun.object", "noun.plant", "noun.food", "noun.phenomenon", "noun.substance"),
}


def wordnet_synonyms(name: str, supercategory: str, wn) -> list[str]:
    """Lemmas of the most common noun sense of ``name`` in its super-category's lexicographer files."""
    synsets = [s for s in wn.synsets(name.replace(" ", "_"), pos=wn.NOUN) if s.lexname() in SENSE_FILES[supercategory]]
    if not synsets:
        return []
    words = []
    for lemma in synsets[0].lemma_names():
        word = lemma.replace("_", " ")
        if word[0].isupper() or normalise(word) == normalise(name):  # Latin binomials, proper names, itself
            continue
        if word not in words:
            words.append(word)
    return words


def read_overrides() -> list[dict]:
    text = resources.files("refmatte").joinpath(OVERRIDES).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    names = vocabulary(extra=False)
    for r in rows:
        if r["name"] not in names or r["action"] not in ("add", "reject"):
            raise ValueError(f"{OVERRIDES}: bad row {r} (name must be in the vocabulary, action add or reject).")
    return rows


def build_table(wn=None) -> dict[str, list[str]]:
    """Synonyms of every vocabulary name, WordNet then overrides."""
    wn = wn or wordnet()
    table = {name: wordnet_synonyms(name, e.supercategory, wn) for name, e in vocabulary(extra=False).items()}
    for r in read_overrides():
        words = table[r["name"]]
        if r["action"] == "reject" and r["synonym"] in words:
            words.remove(r["synonym"])
        elif r["action"] == "add" and r["synonym"] not in words:
            words.append(r["synonym"])
    return table


def render_table(table: dict[str, list[str]], column: str = "synonyms") -> str:
    """``name,<column>`` CSV of a name -> words table, words joined by ";" (also the taxonomy's)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", column])
    for name, words in table.items():
        w.writerow([name, ";".join(words)])
    return buf.getvalue()


def committed_table() -> dict[str, list[str]]:
    """The reviewed table shipped with the package (what the annotator and grammar read)."""
    text = resources.files("refmatte").joinpath(TABLE).read_text(encoding="utf-8")
    return {r["name"]: [w for w in r["synonyms"].split(";") if w] for r in csv.DictReader(io.StringIO(text))}


def table_path() -> Path:
    return Path(str(resources.files("refmatte").joinpath(TABLE)))
