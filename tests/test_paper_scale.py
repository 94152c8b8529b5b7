"""Issue 15: the paper's split (45,000 + 2,500 images from 9,186 : 1,800 : 813 and 977 : 200 : 211
entities), planned with --groups and --dry-run from manifests of the paper's sizes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from refmatte.cli import app
from refmatte.testing.crafted import paper_manifests
from tests.hostile import digest, one_sentence

runner = CliRunner()


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    return paper_manifests(tmp_path_factory.mktemp("paper"))


@pytest.mark.parametrize("split, args, balanced, total", [
    ("train", ["--groups", "2110", "--per-group", "20", "--extra", "2800"], ("10,550", "2,110", "2,110"), "45,000"),
    ("test", ["--groups", "211", "--per-group", "10", "--extra", "390"], ("1,055", "211", "211"), "2,500"),
])
def test_the_papers_split_is_planned_exactly(paper, split, args, balanced, total):
    before = digest(paper)
    r = runner.invoke(app, ["compose", "--split", split, *args, "--min-category-size", "1", "--dry-run",
                            "--out", str(paper)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    pools = {"train": ("9,186", "1,800", "813"), "test": ("977", "200", "211")}[split]
    for s, n, b in zip(("human", "animal", "object"), pools, balanced):
        assert f"{s} entities: pool -> after duplication │ {n} -> {b}" in text
    groups = args[1]
    assert f"groups (5 humans, 1 animal, 1 object) │ {int(groups):,}" in text
    assert f"images in total │ {total}" in text
    assert digest(paper) == before  # a dry run writes nothing, not even a lock


def test_duplication_is_5_1_1_with_every_entity_once_before_any_twice():
    from collections import Counter

    import numpy as np

    from refmatte.compose.plan import _balanced, fewest_groups

    pool = {"human": [f"h{i}" for i in range(9186)], "animal": [f"a{i}" for i in range(1800)],
            "object": [f"o{i}" for i in range(813)]}
    assert fewest_groups({s: len(v) for s, v in pool.items()}) == 1838  # ceil(9186 / 5): the default
    groups, balanced = _balanced(pool, np.random.default_rng(0), 2110)
    assert groups == 2110 and {s: len(v) for s, v in balanced.items()} == {"human": 10550, "animal": 2110, "object": 2110}
    for s, ids in balanced.items():
        counts = Counter(ids)
        assert set(counts) == set(pool[s])  # every entity is used
        assert max(counts.values()) - min(counts.values()) <= 1  # and none twice before all once


def test_too_few_groups_is_one_sentence(paper):
    message = one_sentence(runner.invoke(app, ["compose", "--split", "test", "--groups", "100", "--dry-run",
                                               "--min-category-size", "1", "--out", str(paper)]))
    assert "--groups 100 would leave entities out: 977 human, 200 animal, 211 object need at least 211 groups" in message


def test_any_source_can_be_put_in_another_split_without_reprocessing(demo, tmp_path):
    import shutil

    import pandas as pd

    m = tmp_path / "m"
    shutil.copytree(demo / "manifests", m, ignore=shutil.ignore_patterns("images", "mattes", "*.html"))
    own = pd.read_parquet(m / "entities.parquet").set_index("entity_id").source_split
    assert set(own) == {"train", "test"}
    r = runner.invoke(app, ["ingest", "sample", "--out", str(m), "--split", "train"])
    assert r.exit_code == 0, r.output
    moved = pd.read_parquet(m / "entities.parquet").set_index("entity_id")
    assert set(moved.source_split) == {"train"} and "0 processed" in " ".join(r.output.split())  # nothing redone
    assert (moved.rgba_path.dropna() == pd.read_parquet(demo / "manifests/entities.parquet")
            .set_index("entity_id").rgba_path.dropna()).all()  # the caches were reused, not redone
    r = runner.invoke(app, ["ingest", "sample", "--out", str(m)])  # without --split: the source's own again
    assert r.exit_code == 0 and (pd.read_parquet(m / "entities.parquet").set_index("entity_id").source_split == own).all()
    message = one_sentence(runner.invoke(app, ["ingest", "sample", "--out", str(m), "--split", "val"]))
    assert "--split must be train or test, not 'val'" in message


def test_a_vocabulary_file_adds_names_without_touching_the_installed_one(tmp_path, monkeypatch):
    import pandas as pd

    from refmatte.testing.crafted import folder_source
    from refmatte.vocabulary import lookup, vocabulary

    shipped = len(vocabulary())
    extra = tmp_path / "mine.csv"
    extra.write_text("name,supercategory,coco,aliases\naxolotl,animal,,mexican walking fish\ncat,animal,,moggy\n")
    src, m = folder_source(tmp_path / "src", names=("a", "b")), tmp_path / "m"
    labels = tmp_path / "labels.csv"  # the dataset's own words for its classes
    labels.write_text("key,label\na,Mexican_Walking_Fish\nb,moggy\n")
    env = {"COLUMNS": "200"}
    r = runner.invoke(app, ["ingest", "folder", str(src), "--out", str(m), "--min-side", "16", "--no-face-filter",
                            "--labels", str(labels)], env=env)
    assert r.exit_code == 0, r.output
    message = one_sentence(runner.invoke(app, ["--vocabulary", str(tmp_path / "missing.csv"), "annotate", "--out", str(m)], env=env))
    assert "vocabulary file" in message and "missing.csv not found" in message
    bad = tmp_path / "bad.csv"
    bad.write_text("name,supercategory\ncat,object\n")
    message = one_sentence(runner.invoke(app, ["--vocabulary", str(bad), "annotate", "--out", str(m)], env=env))
    assert "bad.csv line 2: cat is already a animal in the vocabulary" in message
    r = runner.invoke(app, ["--vocabulary", str(extra), "annotate", "--out", str(m), "--only", "category"], env=env)
    assert r.exit_code == 0, r.output
    e = pd.read_parquet(m / "entities.parquet").set_index("source_label")
    assert e.loc["Mexican_Walking_Fish", "category"] == "axolotl" and e.loc["moggy", "category"] == "cat"
    assert (e.supercategory == "animal").all() and (e.category_source == "source").all()
    monkeypatch.setenv("REFMATTE_VOCABULARY", str(extra))  # as the command leaves it for its workers
    assert lookup("mexican walking fish").name == "axolotl" and len(vocabulary()) == shipped + 1
    assert len(vocabulary(extra=False)) == shipped  # the synonyms and taxonomy builders read only the shipped names
