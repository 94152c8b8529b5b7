"""The paper's Table 1 for any manifests (ours, or the imported official RefMatte and RW100),
what the expressions are made of, and the charts of both, side by side."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from refmatte.express import grammar as g

FORMS = ("basic", "absolute", "relative")  # the order charts and lines list them in
ATTRIBUTE_WORDS = ("salient", "non-salient", "transparent", "non-transparent", "female", "male")
# The columns the statistics read: a wide composite (relations, expression_facts) is not materialised.
USED_COLUMNS = ("image_id", "split", "entity_id", "category", "keyword", "keyword_valid", "expressions",
                "expression_forms")


def manifest_kind(names: set[str]) -> str | None:
    """"ours" for a composite manifest (refmatte compose), "official" for an imported release
    (refmatte import-refmatte / import-rw100), None otherwise; decided by columns only their kind has."""
    if {"background_id", "arrangement"} <= names:
        return "ours"
    if {"source", "expressions", "matte_path"} <= names:
        return "official"
    return None


def read_manifest(path: Path) -> tuple[str, list[dict]]:
    """(kind, rows) of a composite manifest ("ours") or an imported official one ("official"),
    conformed with its schema; ValueError naming the file otherwise, or when its compose was
    killed mid-commit."""
    import pyarrow.parquet as pq

    from refmatte.compose.run import check_committed
    from refmatte.schema import BENCHMARK_SCHEMA, COMPOSITE_SCHEMA, conform

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} is a folder; give the manifest file in it (train.parquet, test.parquet, "
                         "rw100.parquet)." if path.is_dir() else f"{path} not found.")
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a file that is not Parquet
        raise ValueError(f"{path} is not a readable Parquet manifest ({e}).") from None
    kind = manifest_kind(set(table.schema.names))
    if kind is None:
        raise ValueError(f"{path} is neither a composite manifest (refmatte compose) nor an imported official one "
                         "(refmatte import-refmatte / import-rw100).")
    if kind == "ours":
        check_committed(path)
    table = conform(table, COMPOSITE_SCHEMA if kind == "ours" else BENCHMARK_SCHEMA, str(path))
    return kind, table.select([c for c in USED_COLUMNS if c in table.schema.names]).to_pylist()


def _category(r: dict) -> str | None:
    return r.get("category") or r.get("keyword")


def _words(texts: list[str]) -> float | None:
    """Mean words per text; None for no texts (a mean of nothing is not 0)."""
    return sum(len(t.split()) for t in texts) / len(texts) if texts else None


def table1(rows: list[dict]) -> list[dict]:
    """Per split and setting: images, mattes, texts, categories, mean text length (words; None
    without texts, e.g. RW100's keyword setting).

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
    """Mean words per expression form, then "all"; an official manifest has no forms: "all" only."""
    by_form: dict[str, list[str]] = {}
    for r in rows:
        texts, forms = r["expressions"] or [], r.get("expression_forms") or []
        for i, text in enumerate(texts):
            if i < len(forms) and forms[i]:
                by_form.setdefault(forms[i], []).append(text)
            by_form.setdefault("all", []).append(text)
    order = {f: i for i, f in enumerate(FORMS)}
    forms = sorted(by_form, key=lambda f: (f == "all", order.get(f, len(order)), f))
    return {form: _words(by_form[form]) for form in forms}


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


def _label(text: str) -> str:
    """Data as chart text: a "$" would start matplotlib's math mode."""
    return text.replace("$", r"\$")


def _chart(family: str, panels: dict[str, list[tuple[str, float]]]):
    """One figure, a horizontal bar panel per manifest, fixed colour: the same data, the same picture."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display backend

    height = max(2.5, 0.28 * max((len(v) for v in panels.values()), default=1) + 1)
    fig = Figure(figsize=(4.5 * len(panels), height))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, items) in zip(axes, panels.items()):
        ax.barh([_label(k) for k, _ in items][::-1], [v or 0 for _, v in items][::-1], color="#4c72b0")
        ax.set_title(_label(name), fontsize=9)
        if not items:  # e.g. RW100 has no keywords: say so rather than draw an empty frame
            ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes, color="gray")
        ax.tick_params(labelsize=8)
        ax.set_xlabel("mean words" if family == "words per form" else "count", fontsize=8)
    fig.suptitle(family)
    fig.tight_layout()
    return fig


def plot(per_manifest: dict[str, list[dict]], folder: Path, top: int = 20) -> list[Path]:
    """PNG charts, one per family (keywords, attributes, relation words, position words: the top
    ``top``; mean words per form), a panel per manifest, written atomically into ``folder``
    (created). ImportError naming the extra when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401  (optional: the extra plots)
    except ImportError:
        raise ImportError("--plots needs matplotlib, which is not installed: pip install 'refmatte[plots]'.") from None
    from refmatte.atomic import atomic_path, writable_folder

    folder = writable_folder(folder, "--plots folder")
    counts = {name: word_counts(rows) for name, rows in per_manifest.items()}
    families = {f: {n: c[f].most_common(top) for n, c in counts.items()}
                for f in ("keywords", "attributes", "relation words", "position words")}
    families["words per form"] = {n: list(length_by_form(rows).items()) for n, rows in per_manifest.items()}
    written = []
    for family, panels in families.items():
        path = folder / f"{family.replace(' ', '_')}.png"
        with atomic_path(path) as tmp:  # metadata without Software: the bytes depend on the data only
            _chart(family, panels).savefig(tmp, format="png", dpi=100, metadata={"Software": None})
        written.append(path)
    return written
