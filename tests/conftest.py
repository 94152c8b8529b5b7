from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from refmatte.entity import IngestOptions
from refmatte.filters import FilterOptions
from refmatte.ingest import BACKGROUNDS, ENTITIES, ingest
from refmatte.sources import BACKGROUND_SOURCES, ENTITY_SOURCES
from refmatte.testing.layouts import MIN_SIDE, build_all, build_layout

OPTS = IngestOptions(FilterOptions(min_side=MIN_SIDE))


def run(kind: str, root: Path, out: Path, workers: int = 1, **kw):
    """Ingest one fixture kind like the CLI does; returns the Summary."""
    table, source = (BACKGROUNDS, BACKGROUND_SOURCES[kind]()) if kind == "bg20k" else (ENTITIES, ENTITY_SOURCES[kind]())
    return ingest(table, source, root, out, kw.pop("opts", OPTS), workers=workers, **kw)


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory):
    """Every dataset layout, built once per test session (read-only for tests)."""
    return build_all(tmp_path_factory.mktemp("datasets"))


@pytest.fixture(scope="session")
def ingested(fixtures, tmp_path_factory):
    """All fixture kinds ingested into one manifest folder: (out, entities df, backgrounds df)."""
    out = tmp_path_factory.mktemp("manifests")
    for kind, fx in fixtures.items():
        run(kind, fx.root, out)
    return out, pd.read_parquet(out / "entities.parquet"), pd.read_parquet(out / "backgrounds.parquet")


@pytest.fixture
def fresh(tmp_path):
    """A private copy of one layout, for tests that modify source files."""
    def make(kind: str):
        return build_layout(kind, tmp_path / "datasets")
    return make


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """`refmatte demo` run once on the embedded sample pool: its output folder."""
    from typer.testing import CliRunner

    from refmatte.cli import app

    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("the demo tried to reach the network")

    out = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:  # offline means offline: any connection fails the run
        mp.setattr(socket.socket, "connect", no_network)
        mp.setattr(socket, "create_connection", no_network)
        r = CliRunner().invoke(app, ["demo", str(out)])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(autouse=True)
def _pixel_cap_per_test(monkeypatch):
    """`--max-pixels` sets REFMATTE_MAX_PIXELS for the process: undo it after each in-process CLI test."""
    from refmatte.imaging import DEFAULT_MAX_PIXELS, MAX_PIXELS_ENV

    monkeypatch.setenv(MAX_PIXELS_ENV, str(DEFAULT_MAX_PIXELS))
    monkeypatch.delenv("REFMATTE_VOCABULARY", raising=False)  # likewise `--vocabulary`


@pytest.fixture(scope="session")
def tiny_ckpt(demo, tmp_path_factory):
    """The tiny CLIPMat trained 2 steps on the demo's train split: its final checkpoint."""
    from clipmat.train import TrainOptions, train

    out = tmp_path_factory.mktemp("tiny-ckpt")
    return train(TrainOptions(manifest=str(demo / "manifests/train.parquet"), out=str(out), model="tiny", batch_size=2,
                              max_steps=2, workers=0, seed=1), log=lambda s: None)


def _missing_install(report) -> bool:
    """A skip for want of a package or tool that setup.sh installs (importorskip's own message, or ours)."""
    text = str(report.longrepr) if report.skipped else ""
    return "could not import" in text or "setup.sh installs" in text


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (.ci/run after setup.sh) such a skip is a failure: a missing install step must fail CI, not a user."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and _missing_install(report):
        report.outcome = "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and _missing_install(report):
        report.outcome = "failed"
