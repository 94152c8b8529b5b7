"""The paper's Table 1 for composite manifests, plus what the expressions are made of."""

from __future__ import annotations

from collections import Counter

from refmatte.express import grammar as g


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
            out.append(dict(split=split, setting=setting, images=len({r["image_id"] for r in sel}), mattes=len(sel), texts=len(words),
                            categories=len({r["category"] for r in sel}),
                            text_length=(sum(len(t.split()) for t in words) / len(words)) if words else 0.0))
    return out


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
    """How often each form, relation word, position word and attribute appears."""
    texts = [t for r in rows for t in (r["expressions"] or [])]
    forms = Counter(f for r in rows for f in (r["expression_forms"] or []))
    rel, pos = _phrases(texts, g.RELATION_WORDS), _phrases(texts, g.POSITION_WORDS)
    attrs = Counter()
    for r in rows:
        for t in r["expressions"] or []:
            for word in ("transparent", "non-transparent", "salient", "non-salient", "female", "male", r.get("color_name") or "\0", r.get("color_basic") or "\0"):
                if f" {word} " in f" {t} ":
                    attrs[word if word in ("transparent", "non-transparent", "salient", "non-salient", "female", "male") else "colour"] += 1
    return {"forms": forms, "relation words": rel, "position words": pos, "attributes": attrs}
