"""Expressions: every one names its target, fits it alone, reads right; keyword_valid rule."""

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from refmatte.express.engine import FORMS

CONNECTIVES = ("and", "which", "that", "who", "is", "are", "of", "the", "a", "an", "in")


@pytest.fixture(scope="module")
def scenes(demo):
    """Scenes as the engine sees them: Arrow rows (lists and None, not numpy and NaN)."""
    import pyarrow.parquet as pq

    by_image = {}
    for s in ("train", "test"):
        for r in pq.read_table(demo / "manifests" / f"{s}.parquet").to_pylist():
            by_image.setdefault(r["image_id"], []).append(r)
    return [sorted(rows, key=lambda r: r["slot"]) for rows in by_image.values()]


def test_text_reads_right(demo):
    rows = pd.concat([pd.read_parquet(demo / "manifests" / f"{s}.parquet") for s in ("train", "test")])
    texts = [t for ex in rows.expressions for t in ex]
    assert len(texts) >= 3 * len(rows)
    for t in texts:
        words = t.split()
        assert all(a != b for a, b in zip(words, words[1:])), t
        assert words[-1] not in CONNECTIVES and words[0] in ("the", "a", "an"), t
        assert not re.search(r"\ba [aeiou]", t), t


def test_keyword_valid_is_exactly_the_shared_category_rule(demo):
    rows = pd.concat([pd.read_parquet(demo / "manifests" / f"{s}.parquet") for s in ("train", "test")])
    for _, img in rows.groupby("image_id"):
        for r in img.itertuples():
            mine = {r.category, *list(r.synonyms)}
            shared = any(mine & {o.category, *list(o.synonyms)} for o in img.itertuples() if o.slot != r.slot)
            assert r.keyword == r.category and r.keyword_valid == (not shared)


def test_entities_sharing_a_category_are_never_named_bare(demo):
    rows = pd.concat([pd.read_parquet(demo / "manifests" / f"{s}.parquet") for s in ("train", "test")])
    shared = rows[~rows.keyword_valid]
    assert len(shared) > 0
    for r in shared.itertuples():  # "the woman" would fit two women: something must distinguish it
        bare = {f"{art} {n}" for n in [r.category, *list(r.synonyms)] for art in ("the", "a", "an")}
        assert r.expressions.size > 0 and not (set(r.expressions) & bare), list(r.expressions)
    extra = [x for xs in rows.expression_extra_attributes for x in xs]
    assert not any(extra)  # the paper style says every attribute: nothing is added afterwards
    assert set(f for fs in rows.expression_forms for f in fs) == set(FORMS)


def test_articles_and_agreement():
    from refmatte.express.grammar import article, join_words, noun_phrase

    assert (article("apple", False), article("car", False), article("car", True)) == ("an", "a", "the")
    assert join_words(["a", "b", "c"]) == "a, b and c" and join_words(["a"]) == "a"
    rng = np.random.default_rng(0)
    assert noun_phrase("scissors", ["red"], None, "post", rng).startswith("the scissors ") and " are red" in noun_phrase("scissors", ["red"], None, "post", rng)
    assert " who is " in noun_phrase("woman", ["young"], None, "post", rng, person=True)


def test_express_command_regenerates_with_another_seed(demo, tmp_path):
    import shutil

    from refmatte.cli import app

    shutil.copy(demo / "manifests/test.parquet", tmp_path / "test.parquet")
    before = pd.read_parquet(tmp_path / "test.parquet")
    r = CliRunner().invoke(app, ["express", str(tmp_path / "test.parquet"), "--seed", "5", "--colour", "basic"])
    assert r.exit_code == 0, r.output
    after = pd.read_parquet(tmp_path / "test.parquet")
    assert list(after.image_id) == list(before.image_id) and list(after.matte_path) == list(before.matte_path)
    assert list(after.expressions.map(list)) != list(before.expressions.map(list))
    assert after.expressions_by.str.contains("seed=5").all()
    r = CliRunner().invoke(app, ["express", str(tmp_path / "test.parquet"), "--colour", "pastel"])
    assert r.exit_code == 2 and "colour style must be one of css3, basic" in r.output


def test_stats_prints_table_1_of_the_manifests(demo):
    import pyarrow.parquet as pq

    from refmatte.cli import app
    from refmatte.express.stats import table1, word_counts

    paths = [demo / "manifests" / f"{s}.parquet" for s in ("train", "test")]
    rows = [r for p in paths for r in pq.read_table(p).to_pylist()]
    t = {(r["split"], r["setting"]): r for r in table1(rows)}
    test = [r for r in rows if r["split"] == "test"]
    assert t[("test", "expression")]["images"] == len({r["image_id"] for r in test})
    assert t[("test", "expression")]["texts"] == sum(len(r["expressions"]) for r in test)
    assert t[("test", "keyword")]["images"] == len({r["image_id"] for r in test} - {r["image_id"] for r in test if not r["keyword_valid"]})
    words = word_counts(rows)
    texts = [x for r in rows for x in r["expressions"]]
    assert sum(words["forms"].values()) == len(texts)
    relative = sum(f == "relative" for r in rows for f in r["expression_forms"])
    assert sum(words["relation words"].values()) >= relative  # one relation phrase per relative expression, counted once
    r = CliRunner().invoke(app, ["stats", *map(str, paths)])
    assert r.exit_code == 0 and "Table 1" in r.output and "words per form: basic" in r.output


def test_a_missing_slot_never_makes_an_entity_its_own_neighbour(scenes):
    from refmatte.express.engine import relations

    scene = next(s for s in scenes if len(s) == 3)
    rest = scene[1:]  # slot 0 gone: relations that pointed at it must vanish, not point elsewhere
    for e in rest:
        assert all(r["other"] in {x["slot"] for x in rest} and r["other"] != e["slot"] for r in relations(e, rest))
