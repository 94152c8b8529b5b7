"""Opt-in (`pytest -m slow`): ingestion at full matting resolution with two workers; CLIPMat under torchrun."""

import numpy as np
import pandas as pd
import pytest

from refmatte.imaging import read_rgb, read_rgba
from tests.conftest import run


@pytest.mark.slow
def test_full_resolution_photos_with_two_workers(tmp_path):
    from tools.bench_ingest import make_inputs

    root = tmp_path / "my_entities"
    make_inputs(root, 6, 1024, photo=True)
    from refmatte.entity import IngestOptions
    from refmatte.filters import FilterOptions

    s = run("folder", root, tmp_path / "m", workers=2, opts=IngestOptions(FilterOptions()))
    assert s.kept == 6 and s.processed == 6
    e = pd.read_parquet(tmp_path / "m/entities.parquet")
    for r in e.itertuples():
        rgba = read_rgba(tmp_path / "m" / r.rgba_path)
        assert rgba.shape == (1024, 1024, 4) and r.alpha_band_px > 1.0  # soft, hairy mattes
        photo = read_rgb(tmp_path / "m" / r.image_path).array
        opaque = rgba[..., 3] == 255
        # where the entity is opaque the estimated foreground is the photo itself
        assert np.abs(rgba[..., :3][opaque].astype(int) - photo[opaque]).mean() < 1.0


@pytest.mark.slow
def test_clipmat_trains_under_torchrun_with_two_processes(demo, tmp_path):
    """The DistributedDataParallel path (gloo on CPU here; nccl on GPUs) writes one run."""
    import json
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "-m", "clipmat.cli", "train",
           str(demo / "manifests/train.parquet"), "--model", "tiny", "--out", str(tmp_path / "ddp"),
           "--batch-size", "2", "--max-steps", "3", "--workers", "0", "--device", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    steps = [json.loads(line)["step"] for line in (tmp_path / "ddp/log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]  # rank 0 alone logs
    assert (tmp_path / "ddp/final.safetensors").is_file()
