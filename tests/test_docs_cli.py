"""Generated docs match the code; the CLI answers users in one clear sentence."""

from pathlib import Path

import pandas as pd
import typer
from typer.testing import CliRunner

from refmatte.cli import app
from refmatte.clidoc import render_all
from refmatte.schema import BACKGROUND_SCHEMA, ENTITY_SCHEMA

DOCS = Path(__file__).resolve().parent.parent / "docs"
runner = CliRunner()


def test_committed_docs_are_generated_from_the_code():
    for name, text in render_all().items():
        assert (DOCS / name).read_text() == text, f"docs/{name} is stale: run `python tools/gen_docs.py`"


def test_every_column_is_documented_with_unit_and_meaning():
    for schema in (ENTITY_SCHEMA, BACKGROUND_SCHEMA):
        for f in schema:
            assert f.metadata[b"doc"] and f.metadata[b"unit"], f.name


def test_ingest_cli_on_a_fixture_tree(fixtures, tmp_path):
    out = tmp_path / "m"
    r = runner.invoke(app, ["ingest", "sim", str(fixtures["sim"].root), "--out", str(out), "--min-side", "32"])
    assert r.exit_code == 0, r.output
    assert "rejected: too_small" in r.output and "kept" in r.output
    e = pd.read_parquet(out / "entities.parquet")
    assert (e.reject_reason.isna()).sum() == 2 and len(e) == 4


def test_folder_options_reach_the_adapter(tmp_path):
    from refmatte.testing.layouts import build_layout

    fx = build_layout("folder", tmp_path / "d")
    (fx.root / "image").rename(fx.root / "pics")
    out = tmp_path / "m"
    r = runner.invoke(app, ["ingest", "folder", str(fx.root), "--image-dir", "pics", "--split", "test", "--out", str(out), "--min-side", "32", "--no-face-filter"])
    assert r.exit_code == 0, r.output
    e = pd.read_parquet(out / "entities.parquet")
    assert set(e.source_split) == {"test"} and e.faces.isna().all()
    assert e.source_key.str.startswith("my_entities/pics/").sum() == 2


def test_user_errors_are_one_sentence_not_a_traceback(tmp_path):
    r = runner.invoke(app, ["ingest", "coco", str(tmp_path)])
    assert r.exit_code == 2 and "unknown source 'coco'" in r.output
    r = runner.invoke(app, ["ingest", "am2k", str(tmp_path), "--out", str(tmp_path / "m")])
    assert r.exit_code == 2 and "does not look like AM-2k" in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["backgrounds", "bg20k", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "is not a folder" in r.output


def test_demo_runs_offline_and_is_resumable(demo):
    e = pd.read_parquet(demo / "manifests/entities.parquet")
    assert set(e.source) == {"sample"} and len(e) >= 40
    assert len(list((demo / "manifests/cache/rgba").glob("*.png"))) == e.rgba_path.notna().sum()
    assert (demo / "preview/entities.html").is_file() and (demo / "preview/backgrounds.html").is_file()
    before = (demo / "manifests/entities.parquet").read_bytes()
    r = runner.invoke(app, ["demo", str(demo)])
    assert r.exit_code == 0 and "43 already up to date" in r.output
    assert (demo / "manifests/entities.parquet").read_bytes() == before


def test_ablation_doc_names_every_switch():
    from pathlib import Path

    from clipmat.config import ABLATIONS

    text = (Path(__file__).resolve().parents[1] / "docs/ablations.md").read_text()
    assert all(f"| `{name}` |" in text for name in ABLATIONS)


def test_no_help_text_holds_a_bracket_rich_would_swallow():
    """typer renders help with rich, which drops "[ray]" in "pip install 'refmatte[ray]'" as markup: escape it."""
    import re

    from clipmat.cli import app as clipmat_app

    markup = re.compile(r"(?<!\\)\[[A-Za-z/@#][^\]]*\]")
    texts = []
    for root in (app, clipmat_app):
        def walk(cmd):
            texts.append(cmd.help or "")
            texts.extend(getattr(p, "help", None) or "" for p in cmd.params)
            for sub in getattr(cmd, "commands", {}).values():
                walk(sub)
        walk(typer.main.get_command(root))
    assert len(texts) > 100  # both command lines walked
    swallowed = [t for t in texts if markup.search(t)]
    assert not swallowed, swallowed
