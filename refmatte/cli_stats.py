"""``refmatte stats``: the paper's Table 1 and what the expressions are made of, for our
manifests and the imported official ones, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table as RichTable

from refmatte.cliutil import console, fail


def _short_names(paths: list[Path]) -> list[str]:
    """The fewest trailing path parts that tell the manifests apart ("big/train.parquet")."""
    parts = [Path(p).resolve().parts for p in paths]
    for k in range(1, max(map(len, parts)) + 1):
        names = ["/".join(p[-k:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]  # the same file twice


def register(app: typer.Typer) -> None:
    app.command("stats")(stats_cmd)


def stats_cmd(
    manifests: list[Path] = typer.Argument(..., help="Composite manifests (train.parquet test.parquet) and/or imported "
                                           "official ones (refmatte import-refmatte / import-rw100)."),
    plots: Optional[Path] = typer.Option(None, "--plots", help="Also write PNG charts here: keywords, attributes, "
                                         "relation and position words, words per form (pip install 'refmatte\\[plots]')."),
) -> None:
    """Print the paper's Table 1 for MANIFESTS side by side, words per form, and the words and
    attributes of the expressions; --plots DIR draws them."""
    from refmatte.express.stats import length_by_form, plot, read_manifest, table1, word_counts

    per_manifest, kinds = {}, {}
    try:
        for name, m in zip(_short_names(manifests), manifests):
            kinds[name], per_manifest[name] = read_manifest(m)
    except (OSError, ValueError) as e:
        fail(f"cannot read a manifest: {e}")
    t = RichTable(title="Table 1 (paper: expression length 16.86 train, 16.80 test)", title_justify="left")
    for c in ("manifest", "kind", "split", "setting", "images", "mattes", "texts", "categories", "text length"):
        t.add_column(c, justify="left" if c in ("manifest", "kind", "split", "setting") else "right")
    for name, rows in per_manifest.items():
        for r in table1(rows):
            length = "-" if r["text_length"] is None else f"{r['text_length']:.2f}"
            t.add_row(escape(name), kinds[name], r["split"], r["setting"], str(r["images"]), str(r["mattes"]),
                      str(r["texts"]), str(r["categories"]), length)
    console.print(t)
    for name, rows in per_manifest.items():
        lengths = length_by_form(rows)
        console.print(f"[bold]{escape(name)}[/] words per form: "
                      + (", ".join(f"{f} {v:.2f}" for f, v in lengths.items()) or "no expressions"), soft_wrap=True)
        for family, counts in word_counts(rows).items():
            if not counts:
                continue
            total = sum(counts.values())
            shown = counts.most_common(10 if family == "keywords" else None)
            more = f", ... {len(counts) - len(shown)} more" if len(shown) < len(counts) else ""
            console.print(escape(f"  {family}: " + ", ".join(f"{w} {n} ({n / total:.0%})" for w, n in shown) + more),
                          soft_wrap=True)
    if plots is not None:
        try:
            for path in plot(per_manifest, plots):
                console.print(f"wrote {path}")
        except (ImportError, OSError, ValueError) as e:
            fail(str(e))
