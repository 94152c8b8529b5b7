"""The paper's Table 1 for any manifests (ours, or the imported official RefMatte and RW100),
what the expressions are made of, and the charts of both, side by side."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from refmatte.express import grammar as g

ATTRIBUTE_WORDS = ("salient", "non-salient", "transparent", "non-transparent", "female", "male")


def read_manifest(path: Path) -> tuple[str, list[dict]]:
    """(kind, rows) of a composite manifest ("ours") or an imported official one ("official");
    ValueError naming the file otherwise."""
    import pyarrow.parquet as pq

    from refmatte.compose.run import check_committed
    from refmatte.schema import BENCHMARK_SCHEMA, COMPOSITE_SCHEMA, conform

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} not found.")
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        raise ValueError(f"{path} is not a readable Parquet manifest ({e}).") from None
    names = set(table.schema.names)
    if "expression_forms" in names:
        check_committed(path)
        return "ours", conform(table, COMPOSITE_SCHEMA, str(path)).to_pylist()
    if {"eval_expression", "source", "expressions"} <= names:
        return "official", conform(table, BENCHMARK_SCHEMA, str(path)).to_pylist()
    raise ValueError(f"{path} is neither a composite manifest (refmatte compose) nor an imported official one "
                     "(refmatte import-refmatte / import-rw100).")


def _category(r: dict) -> str | None:
    return r.get("category") or r.get("keyword")


def _words(texts: list[str]) -> float:
    return sum(len(t.split()) for t in texts) / len(texts) if texts else 0.0


def table1(rows: list[dict]) -> list[dict]:
    """Per split and setting: images, mattes, texts, categories, mean text length (words).

    Keyword setting: images where every entity's keyword is valid (the paper drops images
    with ambiguous entities); texts are the keywords. Expression setting: every image.
    """
    out = []
    for split in sorted({r["split"] for r in rows}):
        mine = [r for r in rows if r["split"] == split]
        bad = {r["image_id"] for r in mine if r["keyword_valid"] is False}
        kw = [r for r in mine if r["image_id"] not in bad]
        texts = [t for r in mine for t in (r["expressions"] or [])]
        for setting, sel, words in (("keyword", kw, [r["keyword"] for r in kw if r["keyword"]]), ("expression", mine, texts)):
            out.append(dict(split=split, setting=setting, images=len({r["image_id"] for r in sel}), mattes=len(sel),
                            texts=len(words), categories=len({_category(r) for r in sel if _category(r)}),
                            text_length=_words(words)))
    return out


def length_by_form(rows: list[dict]) -> dict[str, float]:
    """Mean words per expression form, and over all; an official manifest has no forms: "all" only."""
    by_form: dict[str, list[str]] = {}
    for r in rows:
        forms = r.get("expression_forms") or [None] * len(r["expressions"] or [])
        for text, form in zip(r["expressions"] or [], forms):
            if form:
                by_form.setdefault(form, []).append(text)
            by_form.setdefault("all", []).append(text)
    return {form: _words(texts) for form, texts in sorted(by_form.items(), key=lambda kv: kv[0] == "all")}


def _phrases(texts: list[str], bags: dict[str, tuple[str, ...]]) -> Counter:
    """Occurrences of the bags' phrases, longest first, so "right of" inside "to the right of" counts once."""
    phrases = sorted({w for bag in bags.values() for w in bag}, key=len, reverse=True)
    counts = Counter()
    for t in texts:
        rest = f" {t} "
        for w in phrases:
            while f" {w} " in rest:
                counts[w] += 1
                rest = rest.replace(f" {w} ", " | ", 1)
    return counts


def word_counts(rows: list[dict]) -> dict[str, Counter]:
    """How often each keyword, form, relation word, position word and attribute appears."""
    from refmatte.annotate.color import BASIC_OF

    texts = [t for r in rows for t in (r["expressions"] or [])]
    colours = set(BASIC_OF) | set(BASIC_OF.values())
    attrs = Counter()
    for t in texts:
        words = set(t.replace(",", " ").split())
        attrs.update(w for w in ATTRIBUTE_WORDS if w in words)
        if words & colours:
            attrs["colour"] += 1
    return {
        "keywords": Counter(r["keyword"] for r in rows if r["keyword"]),
        "forms": Counter(f for r in rows for f in (r.get("expression_forms") or [])),
        "relation words": _phrases(texts, g.RELATION_WORDS), "position words": _phrases(texts, g.POSITION_WORDS),
        "attributes": attrs,
    }


def plot(per_manifest: dict[str, list[dict]], folder: Path, top: int = 20) -> list[Path]:
    """PNG charts, one per family (keywords, attributes, relation words, position words, length
    by form), each with one panel per manifest; written atomically into ``folder``. ImportError
    naming the extra when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("--plots needs matplotlib: pip install 'refmatte[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from refmatte.atomic import atomic_path, writable_folder

    folder = writable_folder(folder, "--plots folder")
    counts = {name: word_counts(rows) for name, rows in per_manifest.items()}
    families = {f: {n: c[f].most_common(top) for n, c in counts.items()}
                for f in ("keywords", "attributes", "relation words", "position words")}
    families["words per form"] = {n: list(length_by_form(rows).items()) for n, rows in per_manifest.items()}
    written = []
    for family, panels in families.items():
        n = len(panels)
        height = max(2.5, 0.28 * max((len(v) for v in panels.values()), default=1) + 1)
        fig, axes = plt.subplots(1, n, figsize=(4.5 * n, height), squeeze=False)
        for ax, (name, items) in zip(axes[0], panels.items()):
            labels, values = [k for k, _ in items][::-1], [v for _, v in items][::-1]
            ax.barh(labels, values, color="#4c72b0")
            ax.set_title(name, fontsize=9)
            ax.tick_params(labelsize=8)
            ax.set_xlabel("mean words" if family == "words per form" else "count", fontsize=8)
        fig.suptitle(family)
        fig.tight_layout()
        path = folder / f"{family.replace(' ', '_')}.png"
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
        plt.close(fig)
        written.append(path)
    return written
