"""The category vocabulary and the reviewed synonyms table (WordNet run for real in CI)."""

import os

import pytest
from typer.testing import CliRunner

from refmatte.cli import app
from refmatte.sources.sample import SAMPLE_ROOT, read_truth
from refmatte.synonyms import committed_table, read_overrides
from refmatte.vocabulary import SUPERCATEGORIES, lookup, normalise, vocabulary


def test_vocabulary_is_large_consistent_and_covers_the_pool():
    v = vocabulary()
    assert len(v) >= 150
    assert {e.supercategory for e in v.values()} == set(SUPERCATEGORIES)
    owners = {}
    for e in v.values():
        for w in {normalise(e.name), *e.aliases}:
            owners.setdefault(w, set()).add(e.name)
    clashes = {w: names for w, names in owners.items() if len(names) > 1}
    assert not clashes, f"words that name two entries: {clashes}"
    for t in read_truth(SAMPLE_ROOT / "entities/truth.csv").values():
        entry = lookup(t["category"])
        assert entry is not None and entry.supercategory == t["supercategory"], t["key"]
    for sim_class in ("plastic_bag", "smoke_cloud", "spider_web", "glass_ice", "plant_flower", "hair_hard"):
        assert lookup(sim_class) is not None


def test_committed_synonyms_cover_the_vocabulary_and_drop_odd_words():
    table = committed_table()
    assert list(table) == list(vocabulary())
    assert "cyberspace" not in table["net"] and "mesh" in table["net"]
    assert "internet" not in table["net"] and "tabular array" not in table["table"]
    assert all(w != name for name, words in table.items() for w in words)


def _wordnet_or_skip():
    from refmatte.synonyms import WordNetMissing, wordnet

    try:
        return wordnet()
    except WordNetMissing as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI must exercise WordNet: {e}")
        pytest.skip(str(e))


def test_synonyms_table_is_what_wordnet_and_the_overrides_give():
    _wordnet_or_skip()
    r = CliRunner().invoke(app, ["synonyms", "build", "--check"])
    assert r.exit_code == 0, r.output


def test_every_override_still_does_something():
    from refmatte.synonyms import wordnet_synonyms

    wn = _wordnet_or_skip()
    v = vocabulary()
    for o in read_overrides():
        raw = wordnet_synonyms(o["name"], v[o["name"]].supercategory, wn)
        if o["action"] == "reject":
            assert o["synonym"] in raw, f"stale override: WordNet no longer gives {o['synonym']!r} for {o['name']!r}"
        else:
            assert o["synonym"] not in raw, f"redundant override: WordNet already gives {o['synonym']!r} for {o['name']!r}"
