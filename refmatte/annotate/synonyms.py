"""Synonyms of each entity's category, from the committed, reviewed table (no WordNet needed)."""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path

from refmatte.annotate.base import Annotator
from refmatte.synonyms import committed_table, table_path

VERSION = 1


class SynonymsAnnotator(Annotator):
    name = "synonyms"
    columns = ("synonyms",)
    batch_size = 1024

    @cached_property
    def table(self) -> dict[str, list[str]]:
        return committed_table()

    def provenance(self) -> str:
        return f"synonyms/{VERSION} table={hashlib.sha1(table_path().read_bytes()).hexdigest()[:12]}"

    def key(self, row: dict) -> str:
        return f"{self.provenance()} category={row['category']}"

    def applies(self, row: dict) -> bool:
        return row["category"] is not None

    def run(self, rows: list[dict], out: Path) -> list[dict]:
        return [dict(synonyms=list(self.table.get(row["category"], []))) for row in rows]
