"""clipmat train / eval / score / predict, the metrics, the data pipeline and the benchmark importers."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from clipmat import tokenize
from clipmat.cli import app
from clipmat.data import MatteDataset, collate, make_trimap, mirror_text, read_image, read_manifest
from clipmat.metrics import all_metrics, conn, grad, mad, mse, sad
from clipmat.train import TrainOptions, train

runner = CliRunner()


# --- metrics

def test_sad_mse_mad_by_hand():
    a = np.zeros((100, 100))
    p = np.zeros((100, 100))
    p[:10, :10] = 0.5  # 100 pixels off by 0.5
    assert sad(p, a) == pytest.approx(50 / 1000)  # SAD is reported / 1000
    assert mse(p, a) == pytest.approx(100 * 0.25 / 10_000)
    assert mad(p, a) == pytest.approx(100 * 0.5 / 10_000)
    assert sad(np.full((2, 2), 255, np.uint8), np.zeros((2, 2), np.uint8)) == pytest.approx(4 / 1000)  # uint8 -> [0, 1]


def _reference_grad(p: np.ndarray, a: np.ndarray, sigma: float = 1.4) -> float:
    """Deep Image Matting's Grad written the long way: 2-D kernels, scipy convolution."""
    from scipy import ndimage

    half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * 1e-2))))
    kx = np.zeros((2 * half + 1, 2 * half + 1))
    for i in range(2 * half + 1):
        for j in range(2 * half + 1):
            y, x = i - half, j - half
            gauss_y = np.exp(-y * y / (2 * sigma * sigma)) / (sigma * np.sqrt(2 * np.pi))
            gauss_x = np.exp(-x * x / (2 * sigma * sigma)) / (sigma * np.sqrt(2 * np.pi))
            kx[i, j] = gauss_y * (-x * gauss_x / sigma**2)
    kx /= np.sqrt((kx**2).sum())
    ky = kx.T

    def amp(m):
        return np.sqrt(ndimage.convolve(m, kx, mode="reflect") ** 2 + ndimage.convolve(m, ky, mode="reflect") ** 2)
    return float(((amp(p) - amp(a)) ** 2).sum() / 1000)


def test_grad_matches_deep_image_matting_convention():
    rng = np.random.default_rng(0)
    a = (rng.random((60, 70)) > 0.5).astype(float)
    p = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    assert grad(p, a) == pytest.approx(_reference_grad(p, a), rel=1e-9)
    assert grad(p, a) == pytest.approx(0.0984656, rel=1e-5)  # pinned
    ramp = np.tile(np.linspace(0, 1, 101), (30, 1))
    assert grad(ramp, ramp) == 0
    assert grad(2 * ramp, np.zeros_like(ramp)) == pytest.approx(4 * grad(ramp, np.zeros_like(ramp)))


def test_conn_by_hand():
    a = np.zeros((20, 20))
    a[2:5, 2:5] = 1
    p = a.copy()
    p[15, 15] = 1  # an island cut off from the body: it loses its whole value, 1
    assert conn(a, a) == 0
    assert conn(p, a) == pytest.approx(1 / 1000)
    assert sad(p, a) == pytest.approx(1 / 1000)
    # a faint island (0.3): it leaves the body at threshold 0.1, so its level is 0 and
    # d = 0.3 >= theta 0.15 gives phi = 0.7 against the target's 1: error 0.3
    p[15, 15] = 0.3
    assert conn(p, a) == pytest.approx(0.3 / 1000)
    # below theta the difference is forgiven: an island of 0.1 has d = 0.1 < 0.15, phi 1 on both sides
    p[15, 15] = 0.1
    assert conn(p, a) == 0


def test_metrics_on_2048_pairs_are_vectorised():
    rng = np.random.default_rng(0)
    a, p = rng.random((2048, 2048)), rng.random((2048, 2048))
    m = all_metrics(p, a)
    assert set(m) == {"sad", "mse", "mad", "grad", "conn"} and m["mad"] == pytest.approx(1 / 3, abs=1e-3)
    with pytest.raises(ValueError, match="differ in size"):
        all_metrics(p[:10], a)


# --- data

def test_mirror_text_and_trimap():
    assert mirror_text("the cat to the Left of the leftmost dog") == "the cat to the Right of the rightmost dog"
    assert mirror_text("the bright dog") == "the bright dog"
    alpha = np.zeros((40, 40), np.float32)
    alpha[10:30, 10:30] = 1
    alpha[10:30, 10] = 0.5
    t = make_trimap(alpha, 5)
    assert t[20, 20] == 2 and t[0, 0] == 0 and t[20, 10] == 1 and t[20, 8] == 1  # band widened by the kernel
    assert set(np.unique(t)) == {0, 1, 2}


def test_augmentation_is_the_same_for_any_number_of_workers(demo):
    ds = MatteDataset(demo / "manifests/train.parquet", "expression", 64, 69, tokenize, train=True, seed=3)
    ds.set_epoch(1)
    batches = []
    for workers in (0, 2):
        loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=workers, collate_fn=collate)
        batches.append(next(iter(loader)))
    assert batches[0]["text"] == batches[1]["text"]
    for key in ("image", "alpha", "trimap", "tokens"):
        assert torch.equal(batches[0][key], batches[1][key]), key
    ds.set_epoch(2)
    assert not np.array_equal(ds[0]["image"], MatteDataset(demo / "manifests/train.parquet", "expression", 64, 69,
                                                           tokenize, train=True, seed=3)[0]["image"])
    assert np.array_equal(ds[0]["image"], ds[(2, 0)]["image"])  # the trainer's (epoch, row) keys: same sample
    ds.set_epoch(0)
    assert np.array_equal(ds[(2, 0)]["image"], ds[(2, 0)]["image"]) and not np.array_equal(ds[0]["image"], ds[(2, 0)]["image"])


def test_evaluation_text_is_fixed(demo, tmp_path):
    import zlib

    ds = MatteDataset(demo / "manifests/test.parquet", "expression", 64, 69, tokenize, train=False)
    row = ds.rows.iloc[0]
    assert ds[0]["text"] == row.expressions[zlib.crc32(row.matte_path.encode()) % len(row.expressions)]
    kw = MatteDataset(demo / "manifests/test.parquet", "keyword", 64, 14, tokenize, train=False)
    assert [kw[i]["text"] for i in range(len(kw))] == [f"the foreground of {k}" for k in kw.rows.keyword]
    table = pd.read_parquet(demo / "manifests/test.parquet")
    table["eval_expression"] = 0  # an official index wins over the hash
    shutil.copytree(demo / "manifests", tmp_path / "m", ignore=shutil.ignore_patterns("cache"))
    table.to_parquet(tmp_path / "m/test.parquet")
    pinned = MatteDataset(tmp_path / "m/test.parquet", "expression", 64, 69, tokenize, train=False)
    assert [pinned[i]["text"] for i in range(len(pinned))] == [e[0] for e in pinned.rows.expressions]


def test_wrong_manifest_is_one_sentence(demo, tmp_path):
    with pytest.raises(ValueError, match=r"entities.parquet lacks column\(s\) matte_path"):
        read_manifest(demo / "manifests/entities.parquet", "keyword")
    r = runner.invoke(app, ["train", str(demo / "manifests/entities.parquet"), "--model", "tiny", "--out", str(tmp_path)])
    assert r.exit_code != 0 and "lacks column(s)" in r.output and "Traceback" not in r.output


# --- training

def _opts(demo, out, steps, resume=False, **kw):
    return TrainOptions(**{**dict(manifest=str(demo / "manifests/train.parquet"), out=str(out), model="tiny",
                                  batch_size=4, epochs=100, max_steps=steps, workers=0, checkpoint_every=2,
                                  resume=resume, seed=1), **kw})


def test_resumed_training_matches_an_uninterrupted_run(demo, tmp_path):
    whole = load_file(str(train(_opts(demo, tmp_path / "a", 4), log=lambda s: None)))
    train(_opts(demo, tmp_path / "b", 2), log=lambda s: None)
    resumed = load_file(str(train(_opts(demo, tmp_path / "b", 4, resume=True), log=lambda s: None)))
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    steps = [json.loads(line)["step"] for line in (tmp_path / "b/log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert sorted(p.name for p in (tmp_path / "b/checkpoints").glob("*.json")) == ["step-0000002.json",
                                                                                    "step-0000004.json"]


def test_resume_with_accumulation_and_changed_options(demo, tmp_path):
    whole = load_file(str(train(_opts(demo, tmp_path / "a", 3, accumulate=2, batch_size=2), log=lambda s: None)))
    train(_opts(demo, tmp_path / "b", 2, accumulate=2, batch_size=2), log=lambda s: None)
    resumed = train(_opts(demo, tmp_path / "b", 3, resume=True, accumulate=2, batch_size=2), log=lambda s: None)
    assert all(torch.equal(v, load_file(str(resumed))[k]) for k, v in whole.items())
    from clipmat.data import DataError

    with pytest.raises(DataError, match=r"cannot resume from .*step-0000003.json: batch_size 2 -> 4"):
        train(_opts(demo, tmp_path / "b", 5, resume=True, accumulate=2, batch_size=4), log=lambda s: None)
    from clipmat.train import with_batch_size

    assert with_batch_size(_opts(demo, tmp_path / "b", 5, resume=True, batch_size=None)).batch_size == 2  # the run's own
    assert with_batch_size(_opts(demo, tmp_path / "c", 5, batch_size=None, model="ViT-L-14")).batch_size == 4
    assert with_batch_size(_opts(demo, tmp_path / "c", 5, batch_size=None, model="ViT-B-16")).batch_size == 12
    # issue 16 said a new --lr or --model on --resume was ignored: both are refused, naming the change
    with pytest.raises(DataError, match=r"cannot resume from .*: lr 0.0001 -> 0.001"):
        train(_opts(demo, tmp_path / "b", 5, resume=True, accumulate=2, batch_size=2, lr=1e-3), log=lambda s: None)
    with pytest.raises(DataError, match=r"cannot resume from .*: model 'tiny' -> 'ViT-B-16'"):
        train(_opts(demo, tmp_path / "b", 5, resume=True, accumulate=2, batch_size=2, model="ViT-B-16"), log=lambda s: None)


def test_training_skips_unreadable_files_and_says_so(demo, tmp_path):
    manifests = tmp_path / "m"
    shutil.copytree(demo / "manifests", manifests, ignore=shutil.ignore_patterns("cache"))
    rows = pd.read_parquet(manifests / "train.parquet")
    broken = manifests / rows.image_path.iloc[0]
    broken.write_bytes(b"not a jpeg")
    messages = []
    opts = _opts(demo, tmp_path / "run", 30)
    opts.manifest = str(manifests / "train.parquet")
    train(opts, log=messages.append)
    assert any(f"image {broken}: missing or not a readable image" in m for m in messages)
    assert any("samples skipped" in m for m in messages)


# --- the commands, end to end

@pytest.fixture(scope="module")
def trained(demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    r = runner.invoke(app, ["train", str(demo / "manifests/train.parquet"), "--model", "tiny", "--out", str(out),
                            "--batch-size", "4", "--max-steps", "3", "--workers", "0",
                            "--val", str(demo / "manifests/test.parquet")])
    assert r.exit_code == 0, r.output
    return out / "final.safetensors"


def test_eval_writes_per_entity_csv_and_protocol(trained, demo, tmp_path):
    csv = tmp_path / "eval.csv"
    r = runner.invoke(app, ["eval", str(trained), str(demo / "manifests/test.parquet"), "--csv", str(csv)])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(csv)
    assert len(table) == len(read_manifest(demo / "manifests/test.parquet", "keyword"))
    assert {"sad", "mse", "mad", "grad", "conn", "referring_correct", "text"} <= set(table.columns)
    summary = json.loads(csv.with_suffix(".json").read_text())
    assert summary["sad"] == pytest.approx(table.sad.mean()) and "original resolution" in summary["protocol"]
    assert "whole image at the original resolution" in r.output


def test_score_predictions_of_another_method(demo, tmp_path):
    rows = read_manifest(demo / "manifests/test.parquet", "keyword")
    preds = tmp_path / "preds"
    preds.mkdir()
    for row in rows.itertuples():  # a perfect method: the ground truth itself, named by the rule
        shutil.copy(row.matte_file, preds / row.matte_file.rsplit("/", 1)[-1])
    r = runner.invoke(app, ["score", str(preds), str(demo / "manifests/test.parquet"), "--csv", str(tmp_path / "s.csv")])
    assert r.exit_code == 0, r.output
    table = pd.read_csv(tmp_path / "s.csv")
    assert (table.sad == 0).all() and table.referring_correct.all()
    (preds / rows.matte_file.iloc[0].rsplit("/", 1)[-1]).unlink()
    r = runner.invoke(app, ["score", str(preds), str(demo / "manifests/test.parquet"), "--csv", str(tmp_path / "s.csv")])
    assert r.exit_code == 0 and "1 entities skipped" in r.output and "missing or not a readable image" in r.output
    small = preds / rows.matte_file.iloc[1].rsplit("/", 1)[-1]
    cv2.imwrite(str(small), np.zeros((10, 10), np.uint8))
    r = runner.invoke(app, ["score", str(preds), str(demo / "manifests/test.parquet"), "--csv", str(tmp_path / "s.csv")])
    assert "2 entities skipped" in r.output and pd.read_csv(tmp_path / "s.csv").error.str.contains(
        "must be at the original size").any()


def test_predict_any_size_with_cutout(trained, tmp_path):
    image = (np.random.default_rng(0).random((101, 157, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "in.png"), image)
    r = runner.invoke(app, ["predict", str(trained), str(tmp_path / "in.png"), "the cat on the left",
                            "--out", str(tmp_path / "a.png"), "--cutout", str(tmp_path / "c.png")])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED).shape == (101, 157)
    assert cv2.imread(str(tmp_path / "c.png"), cv2.IMREAD_UNCHANGED).shape == (101, 157, 4)
    assert "expression 'the cat on the left'" in r.output
    r = runner.invoke(app, ["predict", str(trained), str(tmp_path / "nothing.png"), "cat"])
    assert r.exit_code != 0 and "nothing.png: missing or not a readable image" in r.output


def test_demo_trains_and_predicts(demo):
    assert (demo / "clipmat/final.safetensors").is_file()
    steps = [json.loads(line)["step"] for line in (demo / "clipmat/log.jsonl").read_text().splitlines()]
    assert steps[-1] == 60
    picture = next((demo / "prediction").glob("*_compare.png"))
    alpha = next((demo / "prediction").glob("*_alpha.png"))
    h, w = cv2.imread(str(alpha), cv2.IMREAD_GRAYSCALE).shape
    assert cv2.imread(str(picture)).shape == (h, 3 * w, 3)  # image | predicted | true


def test_training_from_an_openai_style_archive_says_which_activation(demo, tmp_path):
    import open_clip

    from clipmat.build import register_clip_configs

    register_clip_configs()
    archive = tmp_path / "ViT-tiny.pt"
    torch.jit.script(open_clip.create_model("clipmat-tiny-clip", force_quick_gelu=True).eval()).save(str(archive))
    said = []
    final = train(_opts(demo, tmp_path / "run", 1, clip_weights=str(archive)), log=said.append)
    assert any("TorchScript archive, OpenAI's release format: QuickGELU" in s for s in said)
    from clipmat.checkpoint import load_checkpoint

    assert load_checkpoint(final).config.quick_gelu
    r = runner.invoke(app, ["train", "--help"])
    assert "--quick-gelu" in r.output and "--no-quick-gelu" in r.output


@pytest.mark.parametrize("off", ["tsp", "mde", "pre-context", "post-context"])
def test_every_ablation_trains_and_is_recorded(demo, tmp_path, off):
    from clipmat.checkpoint import load_checkpoint

    said = []
    final = train(_opts(demo, tmp_path / "run", 2, ablate=(off,)), log=said.append)
    assert load_checkpoint(final).config.ablated == (off,) and f"ablated (Table 3): {off} off" in said
    from clipmat.data import DataError

    with pytest.raises(DataError, match=r"ablate \[.*\] -> \[\]"):  # a resumed run cannot switch it back on
        train(_opts(demo, tmp_path / "run", 3, resume=True), log=said.append)


def test_unknown_region_protocol_on_a_hand_made_edge():
    """A soft vertical edge: the band is the ramp plus 12 px each side (a 25 px ellipse erodes 12)."""
    from clipmat.metrics import protocol, unknown_region

    target = np.zeros((40, 100), np.float64)
    target[:, 50:] = 1.0
    target[:, 40:50] = np.linspace(0.05, 0.95, 10)
    band = unknown_region(target)
    assert band.all(axis=0).sum() == band.any(axis=0).sum() == 10 + 2 * 12
    assert band[:, 28:62].all() and not band[:, :28].any() and not band[:, 62:].any()
    pred = target.copy()
    pred[:, 30] = 0.5  # inside the band
    pred[:, 5] = 0.5  # outside it: counts for the whole image only
    m = all_metrics(pred, target, ("sad", "mse", "mad"), region="unknown")
    assert m["sad"] == pytest.approx(40 * 0.5 / 1000) and m["mad"] == pytest.approx(40 * 0.5 / (40 * 34))
    assert m["mse"] == pytest.approx(40 * 0.25 / (40 * 34))
    assert all_metrics(pred, target, ("sad",))["sad"] == pytest.approx(2 * 40 * 0.5 / 1000)
    assert "unknown region only" in protocol("unknown") and protocol("whole").startswith("whole image")
    with pytest.raises(ValueError, match="unknown region 'trimap'"):
        all_metrics(pred, target, region="trimap")


def test_score_with_the_unknown_region(demo, tmp_path):
    rows = read_manifest(demo / "manifests/test.parquet", "keyword")
    preds = tmp_path / "preds"
    preds.mkdir()
    for row in rows.itertuples():  # an empty matte for every entity
        h, w = cv2.imread(row.matte_file, cv2.IMREAD_GRAYSCALE).shape
        cv2.imwrite(str(preds / row.matte_file.rsplit("/", 1)[-1]), np.zeros((h, w), np.uint8))
    whole = runner.invoke(app, ["score", str(preds), str(demo / "manifests/test.parquet"), "--csv", str(tmp_path / "w.csv")])
    band = runner.invoke(app, ["score", str(preds), str(demo / "manifests/test.parquet"), "--csv", str(tmp_path / "u.csv"),
                               "--region", "unknown"])
    assert whole.exit_code == 0 and band.exit_code == 0, band.output
    w, u = pd.read_csv(tmp_path / "w.csv"), pd.read_csv(tmp_path / "u.csv")
    assert (u.sad <= w.sad).all() and (u.sad < w.sad).any() and (u.mad > w.mad).all()  # fewer pixels summed, all of them where the error is
    assert json.loads((tmp_path / "u.json").read_text())["region"] == "unknown" and "unknown region only" in band.output
    r = runner.invoke(app, ["score", str(preds), str(demo / "manifests/test.parquet"), "--region", "band"])
    assert r.exit_code != 0 and "unknown region 'band'" in r.output


def _gfm_reference(pd_: np.ndarray, gt: np.ndarray) -> tuple[float, float]:
    """GFM's compute_gradient_whole_image and compute_connectivity_loss_whole_image, written again
    from their definitions with scipy (labels by scipy.ndimage.label, 4-connected)."""
    from scipy import ndimage

    mags = []
    for x in (pd_, gt):
        dx = ndimage.gaussian_filter(x, sigma=1.4, order=[1, 0], output=np.float32)
        dy = ndimage.gaussian_filter(x, sigma=1.4, order=[0, 1], output=np.float32)
        mags.append(np.sqrt(dx**2 + dy**2))
    grad_ = float(np.sum(np.square(mags[0] - mags[1])) / 10)
    steps = np.arange(0, 1.1, 0.1)
    l_map = -np.ones(pd_.shape, np.float32)
    for i in range(1, steps.size):
        labels, n = ndimage.label((pd_ >= steps[i]) & (gt >= steps[i]))
        if n == 0:
            continue
        sizes = ndimage.sum(np.ones_like(labels), labels, index=range(1, n + 1))
        omega = labels == 1 + int(np.argmax(sizes))
        l_map[(l_map == -1) & ~omega] = steps[i - 1]
    l_map[l_map == -1] = 1
    d_pd, d_gt = pd_ - l_map, gt - l_map
    phi_pd, phi_gt = 1 - d_pd * (d_pd >= 0.15), 1 - d_gt * (d_gt >= 0.15)
    return grad_, float(np.sum(np.abs(phi_pd - phi_gt)) / 1000)


def test_gfm_protocol_reproduces_gfms_grad_and_conn():
    import cv2 as cv

    rng = np.random.default_rng(3)
    for k in range(4):
        gt = np.zeros((64, 80), np.float32)
        cv.ellipse(gt, (40, 32), (int(rng.integers(8, 30)), int(rng.integers(8, 25))), 0, 0, 360, 1.0, -1)
        gt = cv.GaussianBlur(gt, (0, 0), 2)
        pd_ = np.clip(gt + rng.normal(0, 0.2, gt.shape), 0, 1).astype(np.float32)
        if k == 3:
            pd_ = (0.3 * gt).astype(np.float32)  # shares no pixel above 0.3 with the truth: GFM skips those thresholds
        want_grad, want_conn = _gfm_reference(pd_, gt)
        got = all_metrics(pd_, gt, ("sad", "grad", "conn"), conventions="gfm")
        assert got["grad"] == pytest.approx(want_grad, rel=1e-5) and got["conn"] == pytest.approx(want_conn, rel=1e-6)
        assert got["sad"] == all_metrics(pd_, gt, ("sad",))["sad"]
    ours = all_metrics(pd_, gt, ("conn",))["conn"]
    assert ours != pytest.approx(want_conn)  # the stated difference: DIM's Conn does not skip the empty thresholds
    r = runner.invoke(app, ["score", "x", "y", "--protocol", "gfmm"])
    assert r.exit_code != 0 and "unknown protocol 'gfmm'" in r.output


def test_rssn_composes_each_sample_anew_deterministically(demo):
    """RSSN: composite = m F + (1 - m) B to rounding, the same for the same (seed, epoch, row), a new background."""
    from clipmat.rssn import Recomposer

    rows = read_manifest(demo / "manifests/train.parquet", None)
    rec = Recomposer(rows, demo / "manifests")
    row = rows.iloc[0]
    a = rec.sample(row.image_id, row.matte_file, np.random.default_rng([0, 0, 0]))
    b = rec.sample(row.image_id, row.matte_file, np.random.default_rng([0, 0, 0]))
    c = rec.sample(row.image_id, row.matte_file, np.random.default_rng([0, 1, 0]))
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("image", "alpha", "fg", "bg"))
    assert not np.array_equal(a.image, c.image)  # another epoch: another background or RSSN draw
    m = a.alpha[..., None]
    assert np.abs(m * a.fg + (1 - m) * a.bg - a.image).max() < 1e-2  # 0-255 scale
    stored = read_image(row.image_file).astype(np.float32)
    inside = a.alpha > 0.99  # where the entity is opaque the new image is the entity, as in the stored one
    assert np.abs(a.image[inside] - stored[inside]).mean() < 12  # JPEG of the stored one, denoising of this one
    fresh = Recomposer(rows, demo / "manifests")  # what a new loader process makes, without the memo
    denoised = next(s for s in range(50) if np.random.default_rng([0, s, 0]).random() < 0.5)
    d1 = rec.sample(row.image_id, row.matte_file, np.random.default_rng([0, denoised, 0]))
    assert len(rec.memo.items) and all(np.array_equal(getattr(d1, k), getattr(
        fresh.sample(row.image_id, row.matte_file, np.random.default_rng([0, denoised, 0])), k)) for k in ("image", "bg"))
    import pickle

    assert not pickle.loads(pickle.dumps(rec)).memo.items  # a worker's copy starts empty


def test_rssn_memo_stays_within_its_bytes():
    from clipmat.rssn import _Memo

    memo = _Memo(limit=3000)
    for k in range(5):
        memo.get(k, lambda: np.zeros(1000, np.uint8))
    assert list(memo.items) == [2, 3, 4] and memo.used == 3000
    memo.get(2, lambda: None)  # a hit: no new array, and 2 is now the newest
    memo.get(5, lambda: np.zeros(1000, np.uint8))
    assert list(memo.items) == [4, 2, 5]


def test_training_with_rssn_uses_the_composition_loss(demo, tmp_path):
    import torch

    from clipmat.losses import composition_loss

    alpha = torch.rand(1, 1, 8, 8, requires_grad=True)
    fg, bg, image = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    loss = composition_loss(alpha, fg, bg, image)
    loss.backward()
    assert loss > 0 and alpha.grad is not None and alpha.grad.abs().sum() > 0
    final = train(_opts(demo, tmp_path / "rssn", 2, augment="rssn"), log=lambda s: None)
    records = [json.loads(line) for line in (tmp_path / "rssn/log.jsonl").read_text().splitlines()]
    assert final.is_file() and all(r.get("composition", 0) > 0 for r in records), records[0]
    with pytest.raises(Exception, match="unknown augmentation 'rsn'"):
        train(_opts(demo, tmp_path / "x", 1, augment="rsn"), log=lambda s: None)


def test_rssn_names_what_it_lacks(demo, tmp_path):
    from clipmat.data import DataError
    from clipmat.model.prompt import tokenize

    m = tmp_path / "m"
    shutil.copytree(demo / "manifests", m, ignore=shutil.ignore_patterns("cache", "backgrounds.parquet"))
    with pytest.raises(DataError, match=r"--augment rssn: .*backgrounds.parquet not found"):
        MatteDataset(m / "train.parquet", "keyword", 64, 14, tokenize, train=True, recompose=True)
    shutil.copy(demo / "manifests/backgrounds.parquet", m)
    data = MatteDataset(m / "train.parquet", "keyword", 64, 14, tokenize, train=True, recompose=True)
    item = data[0]  # the entity caches are gone: that sample is skipped, named, not fatal
    assert "error" in item and "entity cache of" in item["error"]
