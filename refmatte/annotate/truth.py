"""Agreement of the annotations with the ground truth a source states (the sample pool).

Only entities whose source gives the attribute count. Truth colours are basic terms
(``red``), compared with ``color_basic``; truth ages are the pool's words (baby, child,
adult, elderly), compared by group.
"""

from __future__ import annotations

TRUTH_AGE = {"baby": ("child",), "child": ("child",), "adult": ("young", "adult"), "elderly": ("senior",)}


def agreement(rows: list[dict]) -> list[tuple[str, int, int]]:
    """``(what, agreeing, compared)`` per annotation with ground truth."""
    checks = {"category": [0, 0], "supercategory": [0, 0], "color_basic": [0, 0], "transparent": [0, 0], "gender": [0, 0], "age_group": [0, 0]}

    def count(what: str, ok: bool) -> None:
        checks[what][0] += ok
        checks[what][1] += 1

    for r in rows:
        if r["reject_reason"] is not None:
            continue
        truth = dict(r.get("source_attributes") or [])
        if r["source_label"] and r["category"] is not None and r["category_source"] != "source":
            count("category", r["category"] == r["source_label"])
        if r["source_supercategory"] and r["supercategory"] is not None:
            count("supercategory", r["supercategory"] == r["source_supercategory"])
        if "color" in truth and r["color_basic"] is not None:
            count("color_basic", r["color_basic"] == truth["color"])
        if r["source"] == "sample" and r["transparent"] is not None:  # the pool states transparency of every entity
            count("transparent", r["transparent"] == (truth.get("transparent") == "true"))
        if "gender" in truth and r["gender"] is not None:
            count("gender", r["gender"] == truth["gender"])
        if "age" in truth and r["age_group"] is not None:
            count("age_group", r["age_group"] in TRUTH_AGE.get(truth["age"], ()))
    return [(what, a, n) for what, (a, n) in checks.items() if n]
