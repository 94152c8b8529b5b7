"""`refmatte compose`: invariants on every composed image, determinism, resume, ratios."""

import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from refmatte.compose import ComposeOptions, compose
from refmatte.compose.plan import derive_seed, plan_split, split_of
from refmatte.compose.render import _background, cutout, scaled
from refmatte.ingest import read_rows
from refmatte.schema import BACKGROUND_SCHEMA, ENTITY_SCHEMA


def mattes_of(folder, rows):
    return [cv2.imread(str(folder / r.matte_path), cv2.IMREAD_UNCHANGED) for r in rows.itertuples()]


@pytest.fixture(scope="module")
def composed(demo):
    """The demo's composites: (manifest folder, train rows, test rows)."""
    m = demo / "manifests"
    return m, pd.read_parquet(m / "train.parquet"), pd.read_parquet(m / "test.parquet")


def test_every_image_keeps_the_matte_invariants(composed):
    m, train, test = composed
    for rows in (train, test):
        for image_id, r in rows.groupby("image_id"):
            mattes = mattes_of(m, r)
            total = np.sum([x.astype(np.int32) for x in mattes], axis=0)
            assert total.max() <= 255, image_id  # visible mattes never sum above 1
            arrangement = r.arrangement.iloc[0]
            if arrangement == "depth":
                assert len(mattes) == 2
                back, front = r.sort_values("slot").itertuples()
                assert back.visible_fraction < 0.95 and front.visible_fraction == pytest.approx(1.0, abs=0.01)
            else:
                assert 2 <= len(mattes) <= 3
                overlap = np.sum([(x > 0).astype(np.int32) for x in mattes], axis=0)
                assert overlap.max() == 1, f"{image_id}: entities overlap"
                assert (r.visible_fraction > 0.99).all()


def test_back_entity_is_cut_where_the_front_one_is_opaque(composed):
    m, train, test = composed
    depth = pd.concat([train, test])
    depth = depth[depth.arrangement == "depth"]
    if depth.empty:
        pytest.skip("no depth image in this small run")
    for image_id, r in depth.groupby("image_id"):
        back, front = mattes_of(m, r.sort_values("slot"))
        assert back[front == 255].max() == 0, image_id


def test_reblending_foregrounds_with_the_mattes_gives_the_jpeg(composed, demo):
    m, train, _ = composed
    entities = {e["entity_id"]: e for e in read_rows(m / "entities.parquet", ENTITY_SCHEMA)}
    backgrounds = {b["background_id"]: b for b in read_rows(m / "backgrounds.parquet", BACKGROUND_SCHEMA)}
    for image_id, r in list(train.groupby("image_id"))[:6]:
        first = r.iloc[0]
        bg = _background(backgrounds[first.background_id], m, max(int(first.width), int(first.height))).astype(np.float32)
        assert bg.shape[:2] == (first.height, first.width)
        image = np.zeros_like(bg)
        total = np.zeros(bg.shape[:2], np.float32)
        for row, matte in zip(r.itertuples(), mattes_of(m, r)):
            cut = cutout(entities[row.entity_id], m, 10 ** 6)  # the original box: demo entities are below the size cache
            assert cut.box == (row.crop_x0, row.crop_y0, row.crop_x1, row.crop_y1)
            colour, alpha = scaled(cut, row.scale)
            a = matte.astype(np.float32) / 255.0
            h, w = alpha.shape
            image[row.y:row.y + h, row.x:row.x + w] += a[row.y:row.y + h, row.x:row.x + w, None] * colour
            total += a
        image += (1 - total)[..., None] * bg
        jpeg = cv2.imread(str(m / first.image_path))[..., ::-1].astype(np.float32)
        err = np.abs(jpeg - image)
        assert err.mean() < 2.0 and np.percentile(err, 99) < 24, image_id  # JPEG quality 95, sharp clip-art edges
        # exactness: our re-blend, put through the same JPEG encoder, decodes to the stored image
        ours = cv2.imdecode(cv2.imencode(".jpg", np.clip(np.rint(image), 0, 255).astype(np.uint8)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[1], cv2.IMREAD_COLOR)
        assert np.abs(ours[..., ::-1].astype(np.float32) - jpeg).mean() < 0.05, image_id


def test_measured_relations_agree_with_the_composing_relationship(composed):
    _, train, test = composed
    for image_id, r in pd.concat([train, test]).groupby("image_id"):
        r = r.sort_values("slot")
        arrangement = r.arrangement.iloc[0]
        want = {"horizontal": "left of", "vertical": "above", "depth": "behind"}[arrangement]
        for a, b in zip(r.itertuples(), list(r.itertuples())[1:]):
            assert {"other": b.slot, "relation": want} in list(a.relations), (image_id, a.slot, list(a.relations))
        if arrangement == "horizontal":
            assert "leftmost" in r.iloc[0].extremes and "rightmost" in r.iloc[-1].extremes


def test_entities_are_never_enlarged_and_stay_in_the_frame(composed):
    _, train, test = composed
    rows = pd.concat([train, test])
    assert (rows.scale <= 1.0).all()
    assert (rows.x >= 0).all() and (rows.y >= 0).all()
    assert ((rows.x + (rows.crop_x1 - rows.crop_x0) * rows.scale) <= rows.width + 1).all()


def test_ratios_and_balance_over_a_few_hundred_planned_images(demo):
    m = demo / "manifests"
    entities = [e for e in read_rows(m / "entities.parquet", ENTITY_SCHEMA) if e["reject_reason"] is None]
    backgrounds = read_rows(m / "backgrounds.parquet", BACKGROUND_SCHEMA)
    plan = plan_split(entities, backgrounds, ComposeOptions(split="train", per_group=20, extra=0, min_category_size=1))
    arr = pd.Series([p.arrangement for p in plan.images]).value_counts(normalize=True)
    assert len(plan.images) >= 300
    assert arr["horizontal"] == pytest.approx(0.7, abs=0.05) and arr["vertical"] == pytest.approx(0.2, abs=0.05)
    assert arr["depth"] == pytest.approx(0.1, abs=0.04)
    assert plan.balanced["human"] == 5 * plan.groups and plan.balanced["animal"] == plan.balanced["object"] == plan.groups
    sup = {e["entity_id"]: e["supercategory"] for e in entities}
    drawn = pd.Series([sup[i] for p in plan.images for i in p.entity_ids]).value_counts(normalize=True)
    # each image draws 2-3 of its group's 7 members uniformly: expect 5/7 humans, 1/7 animals, 1/7 objects
    assert drawn["human"] == pytest.approx(5 / 7, abs=0.05)
    assert drawn["animal"] == pytest.approx(1 / 7, abs=0.04) and drawn["object"] == pytest.approx(1 / 7, abs=0.04)
    assert all(len(p.entity_ids) == 2 for p in plan.images if p.arrangement == "depth")


def test_long_tail_categories_move_to_train(demo):
    entities = [e for e in read_rows(demo / "manifests/entities.parquet", ENTITY_SCHEMA) if e["reject_reason"] is None]
    splits = split_of(entities, min_category_size=2)
    for e in entities:
        if e["source_split"] == "test" and e["category"] not in ("woman", "man", "cat"):
            assert splits[e["entity_id"]] == "train"
    assert derive_seed(0, "train", 1) != derive_seed(0, "train", 2) == derive_seed(0, "train", 2)


def die_at_render(monkeypatch, n):
    """Make the n-th image render raise KeyboardInterrupt (a kill); returns the real render."""
    import refmatte.compose.run as run

    real, calls = run.render, {"n": 0}

    def dying(task):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(run, "render", dying)
    return real


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and "/." not in "/" + p.relative_to(folder).as_posix()}


def test_same_bytes_for_any_worker_count_and_after_a_kill(demo, tmp_path, monkeypatch):
    import refmatte.compose.run as run

    opts = ComposeOptions(split="test", per_group=3, min_category_size=1, long_side=320)
    trees = []
    for name, workers in (("one", 1), ("two", 2)):
        shutil.copytree(demo / "manifests", tmp_path / name, ignore=shutil.ignore_patterns("images", "mattes", "train.parquet", "test.parquet"))
        compose(tmp_path / name, opts, workers=workers)
        trees.append({k: v for k, v in _tree(tmp_path / name).items() if k.startswith(("images/", "mattes/", "test.parquet"))})
    assert trees[0] == trees[1] and len(trees[0]) > 10

    killed = tmp_path / "killed"
    shutil.copytree(demo / "manifests", killed, ignore=shutil.ignore_patterns("images", "mattes", "train.parquet", "test.parquet"))
    monkeypatch.setattr(run, "FLUSH_SECONDS", -1.0)
    real = die_at_render(monkeypatch, 4)
    with pytest.raises(KeyboardInterrupt):
        compose(killed, opts, workers=1)
    assert not (killed / "test.parquet").exists() and not (killed / "images").exists()  # nothing committed
    assert list((killed / ".parts").glob("compose-test-*")) and list((killed / ".staging/test").rglob("images/test/*.jpg"))
    monkeypatch.setattr(run, "render", real)
    s = compose(killed, opts, workers=1)
    assert s.reused == 3 and not list(killed.rglob(".refmatte-tmp-*")) and not (killed / ".staging/test").exists()
    assert {k: v for k, v in _tree(killed).items() if k.startswith(("images/", "mattes/", "test.parquet"))} == trees[0]


def test_compose_needs_annotated_entities(tmp_path):
    from typer.testing import CliRunner

    from refmatte.cli import app

    r = CliRunner().invoke(app, ["compose", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "entities.parquet not found" in r.output


def test_ray_executor_gives_the_same_bytes(demo, tmp_path):
    pytest.importorskip("ray", reason="pip install 'refmatte[ray]' (setup.sh installs it)")
    opts = ComposeOptions(split="test", per_group=3, min_category_size=1, long_side=320)
    outs = []
    for name, kw in (("local", dict(workers=1)), ("ray", dict(workers=2, executor="ray"))):
        shutil.copytree(demo / "manifests", tmp_path / name, ignore=shutil.ignore_patterns("images", "mattes", "train.parquet", "test.parquet"))
        s = compose(tmp_path / name, opts, **kw)
        assert s.rendered == len(s.plan.images) > 0
        outs.append({k: v for k, v in _tree(tmp_path / name).items() if k.startswith(("images/", "mattes/", "test.parquet"))})
    assert outs[0] == outs[1]


def test_rerun_reuses_only_matching_images_and_prunes_the_rest(demo, tmp_path):
    m = tmp_path / "m"
    shutil.copytree(demo / "manifests", m, ignore=shutil.ignore_patterns("images", "mattes", "train.parquet", "test.parquet"))
    opts = ComposeOptions(split="test", per_group=3, min_category_size=1, long_side=320)
    first = compose(m, opts)
    before = (m / "test.parquet").read_bytes()
    again = compose(m, opts)
    assert again.rendered == 0 and again.reused == len(first.plan.images) and (m / "test.parquet").read_bytes() == before
    bigger = compose(m, ComposeOptions(split="test", per_group=3, min_category_size=1, long_side=400))
    assert bigger.rendered == len(first.plan.images) and bigger.reused == 0  # another size: every image redrawn
    smaller = compose(m, ComposeOptions(split="test", per_group=1, min_category_size=1, long_side=400))
    rows = pd.read_parquet(m / "test.parquet")
    files = {p.relative_to(m).as_posix() for d in ("images/test", "mattes/test") for p in (m / d).iterdir()}
    assert files == set(rows.image_path) | set(rows.matte_path) and smaller.removed > 0


def test_a_broken_cache_fails_the_run_after_the_others_without_committing(demo, tmp_path):
    from refmatte.compose.run import ComposeError

    m = tmp_path / "m"
    shutil.copytree(demo / "manifests", m, ignore=shutil.ignore_patterns("images", "mattes", "train.parquet", "test.parquet"))
    e = pd.read_parquet(m / "entities.parquet")
    opts = ComposeOptions(split="test", per_group=3, min_category_size=1, long_side=320)
    plan = plan_split(read_rows(m / "entities.parquet", ENTITY_SCHEMA), read_rows(m / "backgrounds.parquet", BACKGROUND_SCHEMA), opts)
    victim = plan.images[0].entity_ids[0]
    cache = m / e.set_index("entity_id").loc[victim, "rgba_path"]
    good = cache.read_bytes()
    cache.write_bytes(good[:100])  # truncated: found by the input check, broken only when decoded
    with pytest.raises(ComposeError) as err:  # a worker's exception comes back as a sentence, not a hung pool
        compose(m, opts, workers=2)
    broken = sum(victim in p.entity_ids for p in plan.images)
    assert str(err.value).startswith(f"{broken} of {len(plan.images)} images could not be rendered")
    assert "unreadable_cache" in str(err.value) or "not an RGBA PNG" in str(err.value)
    assert not (m / "test.parquet").exists() and not (m / "images").exists()
    cache.write_bytes(good)
    s = compose(m, opts, workers=2)  # the images rendered before are reused from the staging folder
    assert s.rendered == broken and s.reused == len(plan.images) - broken


def test_a_run_killed_with_other_options_cannot_leave_stale_reuse(demo, tmp_path, monkeypatch):
    import refmatte.compose.run as run

    m = tmp_path / "m"
    shutil.copytree(demo / "manifests", m, ignore=shutil.ignore_patterns("images", "mattes", "train.parquet", "test.parquet"))
    small = ComposeOptions(split="test", per_group=2, min_category_size=1, long_side=320)
    compose(m, small)
    reference = {k: v for k, v in _tree(m).items() if k.startswith(("images/", "mattes/", "test.parquet"))}
    real = die_at_render(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):  # another size overwrites the first images, then dies
        compose(m, ComposeOptions(split="test", per_group=2, min_category_size=1, long_side=400))
    monkeypatch.setattr(run, "render", real)
    compose(m, small)
    assert {k: v for k, v in _tree(m).items() if k.startswith(("images/", "mattes/", "test.parquet"))} == reference


def test_depth_overlap_stays_in_range_and_entities_in_frame(composed):
    _, train, test = composed
    rows = pd.concat([train, test])
    assert ((rows.y + (rows.crop_y1 - rows.crop_y0) * rows.scale) <= rows.height + 1).all()
    back = rows[(rows.arrangement == "depth") & (rows.slot == 0)]
    assert ((1 - back.visible_fraction) <= 0.4 + 0.05).all()  # hidden share of the back entity, alpha-weighted
