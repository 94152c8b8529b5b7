"""The embedded sample pool: coverage, honest mattes, ground truth, licences, size."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from refmatte.alpha import alpha_stats
from refmatte.imaging import read_alpha
from refmatte.sources.sample import SAMPLE_ROOT, read_truth

TRUTH = pd.DataFrame(read_truth(SAMPLE_ROOT / "entities/truth.csv").values())


def test_pool_covers_the_paper_super_categories():
    assert len(TRUTH) >= 40
    assert TRUTH.category.nunique() >= 20
    counts = TRUTH.supercategory.value_counts()
    assert counts["human"] >= 5 and counts["animal"] >= 8 and counts["object"] >= 8
    assert set(TRUTH.origin) == {"photo", "twemoji", "procedural"}
    test = TRUTH[TRUTH.split == "test"]
    assert set(test.supercategory) == {"human", "animal", "object"}
    assert set(test.category) & set(TRUTH[TRUTH.split == "train"].category), "some test keywords are seen in training"


def test_every_human_has_gender_or_age_and_attributes_parse():
    humans = TRUTH[TRUTH.supercategory == "human"]
    assert all({"age"} <= set(a) for a in humans.attributes)
    assert sum("gender" in a for a in humans.attributes) >= 5


def _alpha(key: str) -> np.ndarray:
    return read_alpha(SAMPLE_ROOT / "entities/alpha" / f"{key}.png").array


def test_transparent_entities_have_a_real_semi_transparent_band():
    transparent = TRUTH[[a.get("transparent") == "true" for a in TRUTH.attributes]]
    assert len(transparent) >= 4
    for key in transparent.key:
        s = alpha_stats(_alpha(key))
        assert s["alpha_semi_fraction"] > 0.5 and s["alpha_band_px"] > 1.0, key


def test_photo_mattes_have_fine_structure_and_obey_their_trimaps():
    photos = TRUTH[TRUTH.origin == "photo"]
    assert len(photos) >= 3
    for key in photos.key:
        a = _alpha(key)
        trimap = read_alpha(SAMPLE_ROOT / "trimaps" / f"{key}.png").array
        assert set(np.unique(trimap)) == {0, 128, 255}, key
        # the solver keeps the hand-drawn certainties ...
        assert (a[trimap == 255] >= 250).mean() > 0.99 and (a[trimap == 0] <= 5).mean() > 0.99, key
        # ... and the unknown band holds a soft transition, wider than anti-aliasing (hair, fur)
        unknown = a[trimap == 128]
        assert ((unknown > 5) & (unknown < 250)).mean() > 0.2, key
        assert alpha_stats(a)["alpha_band_px"] > 1.0, key


def test_clip_art_alpha_is_anti_aliased_not_binary():
    for key in TRUTH[TRUTH.origin == "twemoji"].key:
        a = _alpha(key)
        assert ((a > 0) & (a < 255)).any() and alpha_stats(a)["alpha_band_px"] > 0.5, key


def test_licences_name_every_file_and_only_existing_ones():
    text = (SAMPLE_ROOT / "LICENSES.md").read_text()
    listed = dict(re.findall(r"^\| `([^`]+)` \| .* \| ([^|]+) \|$", text, re.M))
    files = {p.relative_to(SAMPLE_ROOT).as_posix() for p in SAMPLE_ROOT.rglob("*") if p.is_file()}
    assert files == set(listed), f"unlisted: {files - set(listed)}, listed but absent: {set(listed) - files}"
    for f, licence in listed.items():
        if "twemoji_" in f:
            assert licence.strip() == "CC-BY-4.0", f
    assert "creativecommons.org/licenses/by/4.0" in text


def test_package_data_stays_small():
    size = sum(p.stat().st_size for p in SAMPLE_ROOT.rglob("*") if p.is_file())
    assert size < 15 * 2**20


def test_offline_assets_rebuild_byte_for_byte(tmp_path):
    """Photos, procedural entities and backgrounds (all but the npm Twemoji) match the committed files."""
    from tools import build_sample_pool as b

    pool = b.Pool(tmp_path)
    b.build_photos(pool)
    b.build_procedural(pool)
    b.build_skimage_backgrounds(pool)
    rebuilt = b.files(tmp_path)
    assert len(rebuilt) >= 3 * 3 + 6 * 2 + 11
    assert [k for k, v in rebuilt.items() if (SAMPLE_ROOT / k).read_bytes() != v] == []


def test_damaged_ground_truth_is_named_in_one_sentence(tmp_path):
    from refmatte.sources import SourceLayoutError

    good = (SAMPLE_ROOT / "entities/truth.csv").read_text().splitlines()
    for bad, message in (('[1, 2]', "must be a JSON object of strings"), ('{""n"": 3}', "must be a JSON object of strings"), ("{oops", "are not JSON")):
        head, first = good[0], good[1].split(",")
        f = tmp_path / "truth.csv"
        f.write_text(f'{head}\n{first[0]},{first[1]},{first[2]},{first[3]},"{bad}",photo\n')
        with pytest.raises(SourceLayoutError, match=message):
            read_truth(f)
    f.write_text(f"{head}\nx,validation,cat,animal,{{}},photo\n")
    with pytest.raises(SourceLayoutError, match="split 'validation'"):
        read_truth(f)


def test_ingested_pool_keeps_every_entity_with_its_ground_truth(demo):
    e = pd.read_parquet(demo / "manifests/entities.parquet")
    assert len(e) == len(TRUTH) and e.reject_reason.isna().all() and set(e.source) == {"sample"}
    by_key = {Path(k).stem: r for k, r in zip(e.source_key, e.itertuples())}
    for t in TRUTH.itertuples():
        row = by_key[t.key]
        assert (row.source_label, row.source_supercategory, row.source_split, row.source_subset) == (t.category, t.supercategory, t.split, t.origin)
        assert dict(row.source_attributes) == t.attributes
    b = pd.read_parquet(demo / "manifests/backgrounds.parquet")
    assert len(b) >= 10 and b.reject_reason.isna().all() and set(b.source_split) == {"train", "test"}


def test_ingest_sample_needs_no_path(tmp_path):
    from typer.testing import CliRunner

    from refmatte.cli import app

    r = CliRunner().invoke(app, ["backgrounds", "sample", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert len(pd.read_parquet(tmp_path / "backgrounds.parquet")) >= 10
    r = CliRunner().invoke(app, ["ingest", "am2k", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "give the root folder of your AM-2k copy" in r.output


def test_the_counts_quoted_in_docs_match_the_pool():
    import refmatte.sources.sample as sample

    counts = TRUTH.supercategory.value_counts()
    truth = (len(TRUTH), TRUTH.category.nunique(), counts["human"], counts["animal"], counts["object"])
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    origins = TRUTH.origin.value_counts()
    backgrounds = [p for p in (SAMPLE_ROOT / "backgrounds").rglob("*.jpg")]
    quoted = re.search(r"(\d+) Twemoji clip-art.*?(\d+) procedural transparent.*?(\d+) backgrounds \((\d+) from scikit-image, (\d+) procedural\)", readme, re.S)
    assert tuple(map(int, quoted.groups())) == (origins["twemoji"], origins["procedural"], len(backgrounds),
                                                  sum(p.name.startswith("skimage_") for p in backgrounds), sum(p.name.startswith("procedural_") for p in backgrounds))
    for text, pattern in ((sample.__doc__, r"(\d+) entities in (\d+) categories \((\d+) human, (\d+) animal, (\d+) object"),
                          (readme, r"(\d+) matting entities in (\d+) entry-level categories: (\d+) human, (\d+) animal, (\d+) object")):
        assert tuple(map(int, re.search(pattern, text).groups())) == truth
