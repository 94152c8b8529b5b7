"""The last step of ``refmatte demo``: train the tiny CLIPMat briefly and predict one matte.

It shows a newcomer the whole path (manifest -> training -> checkpoint -> prediction) in
seconds on a CPU. The model is tiny, random-initialised and trained for a few dozen
steps, so the matte is rough: `python tools/learning_check.py` trains it properly.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from clipmat.checkpoint import load_checkpoint
from clipmat.data import read_image, read_manifest, read_matte
from clipmat.infer import predict_alpha
from clipmat.model import keyword_prompt
from clipmat.train import TrainOptions, train
from refmatte.atomic import atomic_write_bytes
from refmatte.paths import safe_name

DEMO_STEPS = 60
DEMO_BATCH = 8


def train_and_predict(manifests: Path, out: Path, log=print) -> tuple[Path, Path]:
    """Train into ``out/clipmat``; write the prediction for the first test entity; return (checkpoint, picture)."""
    final = train(TrainOptions(manifest=str(manifests / "train.parquet"), out=str(out / "clipmat"), model="tiny",
                               batch_size=DEMO_BATCH, epochs=10**6, max_steps=DEMO_STEPS, workers=0,
                               checkpoint_every=DEMO_STEPS, seed=0, resume=True), log=log)
    row = read_manifest(manifests / "test.parquet", "keyword").iloc[0]
    image = read_image(row.image_file)
    alpha = predict_alpha(load_checkpoint(final), image, [keyword_prompt(row.keyword)], "keyword")[0]
    truth = np.round(read_matte(row.matte_file, image.shape) * 255).astype(np.uint8)
    name = safe_name(f"{Path(row.matte_path).stem}_{row.keyword.replace(' ', '-')}")  # manifest text: never a path
    atomic_write_bytes(out / "prediction" / f"{name}_alpha.png",
                       cv2.imencode(".png", np.round(alpha * 255).astype(np.uint8))[1].tobytes())
    # image | predicted alpha | true alpha, side by side
    grey = lambda a: cv2.cvtColor(a, cv2.COLOR_GRAY2RGB)  # noqa: E731
    strip = np.hstack([image, grey(np.round(alpha * 255).astype(np.uint8)), grey(truth)])
    picture = out / "prediction" / f"{name}_compare.png"
    atomic_write_bytes(picture, cv2.imencode(".png", cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))[1].tobytes())
    return final, picture
