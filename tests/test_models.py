"""Mask R-CNN and CLIP paths end to end on tiny random-initialised weights saved to a file."""

import json
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from refmatte.annotate.detector import best_detection, build_model, coco_categories
from refmatte.cli import app
from refmatte.vocabulary import from_coco

runner = CliRunner()


@pytest.fixture
def unlabelled(demo, tmp_path):
    """The demo manifests with every source label removed: categories must come from the detector."""
    shutil.copytree(demo / "manifests", tmp_path / "m")
    t = pq.read_table(tmp_path / "m/entities.parquet")
    i = t.schema.get_field_index("source_label")
    t = t.set_column(i, t.schema.field(i), pa.nulls(len(t), pa.string()))
    pq.write_table(t, tmp_path / "m/entities.parquet")
    return tmp_path / "m"


def test_best_detection_is_score_times_iou_with_the_alpha():
    alpha = np.zeros((20, 20), np.uint8)
    alpha[5:15, 5:15] = 255
    on_it, beside = np.zeros((20, 20), np.float32), np.zeros((20, 20), np.float32)
    on_it[5:15, 5:15] = 1.0
    beside[0:5, 0:5] = 1.0
    d = best_detection(["dog", "person"], np.array([0.6, 0.99]), np.stack([on_it, beside]), alpha)
    assert d.label == "dog" and d.iou == pytest.approx(1.0) and d.confidence == pytest.approx(0.6)
    assert best_detection([], np.zeros(0), np.zeros((0, 20, 20)), alpha) is None


def test_every_coco_class_maps_to_the_vocabulary():
    names = [c for c in coco_categories() if c not in ("__background__", "N/A")]
    assert len(names) == 80 and all(from_coco(c) is not None for c in names)


def test_detector_path_with_tiny_random_weights(unlabelled, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "tiny-maskrcnn.pth"
    torch.save(build_model("tiny").state_dict(), weights)
    r = runner.invoke(app, ["annotate", "--out", str(unlabelled), "--only", "category,synonyms", "--detector-weights", str(weights),
                            "--detector-arch", "tiny", "--detector-min-score", "0", "--detector-size", "128"])
    assert r.exit_code == 0, r.output
    e = pd.read_parquet(unlabelled / "entities.parquet")
    assert e.category_by.str.contains(r"tiny:tiny-maskrcnn.pth@[0-9a-f]{12}").all()
    found = e[e.detector_label.notna()]
    assert len(found) > 0  # random weights still detect something at score >= 0
    mapped = found[found.category.notna()]
    assert (mapped.category_source == "detector").all()
    assert all(from_coco(lab).name == cat for lab, cat in zip(mapped.detector_label, mapped.category))
    assert (e.needs_review == (e.category.isna() | (e.category_confidence < 0.5))).all()
    # the same weights file under another architecture is a clear error, not a traceback
    r = runner.invoke(app, ["annotate", "--out", str(unlabelled), "--only", "category", "--detector-weights", str(weights)])
    assert r.exit_code == 2 and "does not hold r50-fpn Mask R-CNN weights" in r.output


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def test_clothes_path_with_a_tiny_random_clip(demo, tmp_path):
    import open_clip

    config = tmp_path / "refmatte-tiny-clip.json"
    config.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    weights = tmp_path / "tiny-clip.pt"
    torch.save(open_clip.create_model("refmatte-tiny-clip").state_dict(), weights)
    shutil.copytree(demo / "manifests", tmp_path / "m")
    r = runner.invoke(app, ["annotate", "--out", str(tmp_path / "m"), "--only", "clothes", "--clip-model", str(config), "--clip-weights", str(weights)])
    assert r.exit_code == 0, r.output
    e = pd.read_parquet(tmp_path / "m/entities.parquet")
    given = e.source_attributes.map(lambda a: "clothes" in dict(a))  # the pool states these: taken as given
    humans = e[(e.supercategory == "human") & ~given]
    assert humans.clothes_by.str.contains(r"clip=refmatte-tiny-clip:tiny-clip.pt@").all()
    stated = e[given & (e.supercategory == "human")]
    assert len(stated) >= 2 and stated.clothes_by.str.startswith("hand").all() and stated.clothes_color.notna().all()
    assert (stated.clothes.map(list) == stated.source_attributes.map(lambda a: [dict(a)["clothes"]])).all()
    assert e[e.supercategory != "human"].clothes_by.isna().all()
    for words, scores in zip(humans.clothes, humans.clothes_scores):
        assert len(words) == len(scores) <= 2 and all(0.15 <= s <= 1 for s in scores)


def test_levi_hassner_backend_names_the_missing_caffe_file(tmp_path):
    from refmatte.annotate.base import WeightsMissing
    from refmatte.annotate.people import PeopleAnnotator

    (tmp_path / "age_deploy.prototxt").write_text("")
    ann = PeopleAnnotator(tmp_path, "levi-hassner", tmp_path)
    with pytest.raises(WeightsMissing, match=r"age_net.caffemodel not found: download the Levi-Hassner Caffe models from https://github.com/GilLevi"):
        ann.prepare()
    with pytest.raises(WeightsMissing, match="needs --age-gender-models DIR"):
        PeopleAnnotator(tmp_path, "levi-hassner", None).prepare()


def test_the_detector_sees_its_own_input_size_not_a_6_mp_original():
    import numpy as np

    from refmatte.annotate.detector import build_model, detect, model_input_size

    model = build_model("tiny", min_score=0.0, size=128).eval()
    seen = []
    inner = model.forward
    model.forward = lambda images, *a, **k: (seen.extend(tuple(t.shape) for t in images), inner(images, *a, **k))[1]
    big = np.random.default_rng(0).integers(0, 256, (3000, 2000, 3), dtype=np.uint8)  # 6 MP
    alpha = np.zeros((3000, 2000), np.uint8)
    alpha[500:2500, 400:1600] = 255
    assert model_input_size(3000, 2000, model) == (128, 85)
    found = detect(model, [big], [alpha])
    assert seen == [(3, 128, 85)]  # what reached the model; masks come back at this size too
    assert found[0] is None or 0 <= found[0].iou <= 1
    assert detect(model, [big], [alpha], allowed=[set()]) == [None]  # a super-category no label is of
    from refmatte.annotate.category import coco_labels_of

    assert "person" in coco_labels_of("human") and "cat" not in coco_labels_of("human") and coco_labels_of(None) is None
    from refmatte.annotate.detector import DETECTIONS

    # at most DETECTIONS masks of the input size come back: 20 x 800 x 1200 floats, not 100 (tools/bench_detector.py)
    assert model.roi_heads.detections_per_img == DETECTIONS == 20
    assert build_model("r50-fpn").roi_heads.detections_per_img == DETECTIONS
