"""``refmatte stats``: the paper's Table 1 and what the expressions are made of."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table as RichTable

from refmatte.cliutil import console, fail


def register(app: typer.Typer) -> None:
    app.command("stats")(stats_cmd)


def stats_cmd(manifests: list[Path] = typer.Argument(..., help="Composite manifests (train.parquet test.parquet).")) -> None:
    """Print the paper's Table 1 for MANIFESTS, and the forms, words and attributes of the expressions."""
    import pyarrow.parquet as pq

    from refmatte.compose.run import check_committed
    from refmatte.express.stats import table1, word_counts
    from refmatte.schema import COMPOSITE_SCHEMA, conform

    rows = []
    try:
        for m in manifests:
            check_committed(m)
            rows += conform(pq.read_table(m), COMPOSITE_SCHEMA, str(m)).to_pylist()
    except (OSError, ValueError) as e:
        fail(f"cannot read a composite manifest: {e}")
    t = RichTable(title="Table 1", title_justify="left")
    for c in ("split", "setting", "images", "mattes", "texts", "categories", "text length"):
        t.add_column(c, justify="left" if c in ("split", "setting") else "right")
    for r in table1(rows):
        t.add_row(r["split"], r["setting"], str(r["images"]), str(r["mattes"]), str(r["texts"]), str(r["categories"]), f"{r['text_length']:.2f}")
    console.print(t)
    for name, counts in word_counts(rows).items():
        total = sum(counts.values()) or 1
        console.print(f"{name}: " + ", ".join(f"{w} {n} ({n / total:.0%})" for w, n in counts.most_common()), soft_wrap=True)
