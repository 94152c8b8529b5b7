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


# Issue 14: a synonym never changes age, gender or kind, and is never a pronoun-like word.
MUST_NOT = {"person": {"someone", "somebody", "individual", "soul", "mortal"}, "boy": {"young man", "man"},
            "girl": {"young woman", "young lady", "woman"}, "man": {"boy", "woman"}, "woman": {"girl", "man"},
            "baby": {"child", "kid"}, "frog": {"toad"}, "computer mouse": {"mouse"}}
PRONOUN_LIKE = {"someone", "somebody", "individual", "soul", "mortal", "being", "animate being", "brute", "citizenry"}


def test_no_synonym_changes_age_gender_or_kind():
    table = committed_table()
    for name, banned in MUST_NOT.items():
        assert not banned & set(table[name]), (name, table[name])
    assert not {w for words in table.values() for w in words} & PRONOUN_LIKE
    animals = {n for n, e in vocabulary().items() if e.supercategory == "animal"}
    assert not [(n, w) for n, words in table.items() for w in words if w in animals and w != n]  # no other animal


def test_taxonomy_table_is_what_wordnet_and_the_overrides_give():
    _wordnet_or_skip()
    r = CliRunner().invoke(app, ["synonyms", "taxonomy", "--check"])
    assert r.exit_code == 0, r.output


def test_taxonomy_knows_who_is_broader_than_whom():
    from refmatte import taxonomy

    assert {"person"} <= taxonomy.broader("woman") and "bird" in taxonomy.broader("parrot")
    assert "plant" in taxonomy.broader("potted plant") and "animal" in taxonomy.broader("cat")
    assert "man" not in taxonomy.broader("boy") and "woman" not in taxonomy.broader("girl")
    assert "cat" not in taxonomy.broader("dog") and not taxonomy.related("cat", "dog")
    assert taxonomy.name_fits("person", "woman") and taxonomy.name_fits("human", "boy")  # a synonym of a broader name
    assert taxonomy.name_fits("lady", "woman") and not taxonomy.name_fits("woman", "person")
    assert taxonomy.related("woman", "person") and taxonomy.related("handbag", "bag")
