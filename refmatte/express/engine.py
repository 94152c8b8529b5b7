"""Expressions that single out their target (paper 3.2, done better than the official data).

An expression is built from facts (a name, attributes, an absolute position, a relation
to another entity). Before it is kept, the facts are evaluated on every entity of the
image with the measured geometry and the annotations: only the target may satisfy them.
When the first draw is ambiguous, attributes are added one by one; when that is not
enough, the expression is drawn again (``TRIES``), and an entity that still cannot be
singled out gets a note instead. The keyword setting's ``keyword_valid`` is false when
another entity of the image shares the target's category or a synonym.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refmatte.express import grammar as g

FORMS = ("basic", "absolute", "relative")
TRIES = 20
GENDERED = {"man", "woman", "boy", "girl", "gentleman", "lady", "adult male", "adult female", "male child", "young lady",
            "young woman", "young man", "male person", "female person"}
AGE_WORDS = {"young": "young", "senior": "senior"}


def _list(value) -> list:
    """A list column's value as a list (Arrow gives lists or None, pandas numpy arrays)."""
    return [] if value is None else list(value)


NEAR = 0.3  # "next to": centroids at most this share of the image width apart


def by_slot(scene: list[dict]) -> dict[int, dict]:
    return {e["slot"]: e for e in scene}


def relations(e: dict, scene: list[dict]) -> list[dict]:
    """The measured relations of ``e`` to other entities present in ``scene``, plus "next to"
    for a horizontal neighbour that is near (``NEAR``) with no entity between them."""
    slots = by_slot(scene)
    out = [r for r in _list(e.get("relations")) if r["other"] in slots and r["other"] != e["slot"]]
    for r in list(out):
        if r["relation"] in ("left of", "right of"):
            o = slots[r["other"]]
            if e.get("centroid_x") is None or o.get("centroid_x") is None or not e.get("width"):
                continue
            lo, hi = sorted((e["centroid_x"], o["centroid_x"]))
            between = any(x["slot"] not in (e["slot"], o["slot"]) and x.get("centroid_x") is not None and lo < x["centroid_x"] < hi for x in scene)
            if not between and hi - lo <= NEAR * e["width"]:
                out.append(dict(other=r["other"], relation="next to"))
    return out


# an extreme among the entities is said with these words only when it is also in that third of the frame
SPOT_THIRDS = {"leftmost": ("position_h", "left"), "rightmost": ("position_h", "right"), "topmost": ("position_v", "top"),
               "bottommost": ("position_v", "bottom")}


def spots(e: dict) -> list[str]:
    """Absolute positions that are true of ``e``: extremes in their third, fore/back, the centre."""
    out = []
    for x in _list(e.get("extremes")):
        if x in SPOT_THIRDS:
            key, third = SPOT_THIRDS[x]
            if e.get(key) == third:
                out.append(x)
        elif x in ("frontmost", "backmost"):
            out.append(x)
    if e.get("position_h") == "middle" and e.get("position_v") == "middle":
        out.append("middle")
    return out


def names(e: dict) -> list[str]:
    return [e["category"], *[s for s in _list(e.get("synonyms")) if s != e["category"]]]


def attributes(e: dict, colour_style: str) -> list[tuple[str, object, str]]:
    """(kind, value, word) adjectives that are true of ``e``."""
    out = []
    colour = e.get("color_name") if colour_style == "css3" else e.get("color_basic")
    if colour:
        out.append(("color", colour, colour))
    if e.get("transparent") is not None:
        out.append(("transparent", bool(e["transparent"]), "transparent" if e["transparent"] else "non-transparent"))
    if e.get("salient") is not None:
        out.append(("salient", bool(e["salient"]), "salient" if e["salient"] else "non-salient"))
    if e.get("gender"):
        out.append(("gender", e["gender"], e["gender"]))
    if e.get("age_group") in AGE_WORDS:
        out.append(("age_group", e["age_group"], AGE_WORDS[e["age_group"]]))
    return out


def holds(e: dict, fact: tuple, scene: list[dict], colour_style: str) -> bool:
    kind = fact[0]
    if kind == "name":
        return fact[1] in names(e)
    if kind == "color":
        return (e.get("color_name") if colour_style == "css3" else e.get("color_basic")) == fact[1]
    if kind in ("transparent", "salient", "gender", "age_group"):
        return e.get(kind) is not None and (bool(e[kind]) if kind in ("transparent", "salient") else e[kind]) == fact[1]
    if kind == "clothes":
        return fact[1] in _list(e.get("clothes"))
    if kind == "position":
        return fact[1] in spots(e)
    if kind == "relation":  # (relation, facts of the other entity)
        _, relation, other = fact
        slots = by_slot(scene)
        return any(r["relation"] == relation and matches(slots[r["other"]], other, scene, colour_style) for r in relations(e, scene))
    raise ValueError(kind)


def matches(e: dict, facts: list[tuple], scene: list[dict], colour_style: str) -> bool:
    return all(holds(e, f, scene, colour_style) for f in facts)


def referents(facts: list[tuple], scene: list[dict], colour_style: str) -> list[int]:
    """Slots of every entity of ``scene`` the facts describe."""
    return [e["slot"] for e in scene if matches(e, facts, scene, colour_style)]


@dataclass
class Expression:
    text: str
    form: str
    facts: list[tuple]
    extra_attributes: int  # attributes added to make it unambiguous


@dataclass
class EntityTexts:
    keyword: str
    keyword_valid: bool
    expressions: list[Expression] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _describe(e: dict, scene: list[dict], rng, colour_style: str, k: int, forbid_gender: bool = False) -> tuple[list[tuple], int]:
    """A name and ``k`` attributes of ``e``; adds attributes until only ``e`` fits (if it can)."""
    ns = names(e)
    name = ns[0] if len(ns) == 1 or rng.random() < 0.7 else ns[1 + int(rng.integers(len(ns) - 1))]
    pool = [a for a in attributes(e, colour_style) if not (a[0] == "gender" and (name in GENDERED or forbid_gender))]
    order = [pool[i] for i in rng.permutation(len(pool))]
    facts = [("name", name)] + [a[:2] for a in order[:k]]
    left = [a[:2] for a in order[k:]]
    extra = 0
    while left and referents(facts, scene, colour_style) != [e["slot"]]:
        # greedy: the attribute that rules out the most other entities (first drawn wins ties)
        best = min(left, key=lambda a: len(referents(facts + [a], scene, colour_style)))
        facts.append(best)
        left.remove(best)
        extra += 1
    return facts, extra


def _words(e: dict, facts: list[tuple], colour_style: str) -> tuple[str, list[str], str | None]:
    words = {a[:2]: a[2] for a in attributes(e, colour_style)}
    name = next(f[1] for f in facts if f[0] == "name")
    adjectives = [words[f[:2]] for f in facts if f[:2] in words]
    clothes = next((f[1] for f in facts if f[0] == "clothes"), None)
    return name, adjectives, clothes


def _phrase(e: dict, facts: list[tuple], rng, colour_style: str) -> str:
    name, adjectives, clothes = _words(e, facts, colour_style)
    shape = "post" if adjectives and rng.random() < 0.4 else "pre"
    return g.noun_phrase(name, adjectives, clothes, shape, rng, person=e.get("supercategory") == "human")


def one_expression(t: dict, scene: list[dict], form: str, rng, colour_style: str = "css3") -> Expression | None:
    """An expression of ``form`` that fits ``t`` and no other entity of ``scene``, or None."""
    for _ in range(TRIES):
        k = int(rng.integers(0, 3))
        facts, extra = _describe(t, scene, rng, colour_style, k)
        clothes = _list(t.get("clothes"))
        if clothes and rng.random() < 0.5:
            facts.append(("clothes", clothes[int(rng.integers(len(clothes)))]))
        tail = ""
        if form == "absolute":
            true_spots = spots(t)
            if not true_spots:
                return None
            spot = true_spots[int(rng.integers(len(true_spots)))]
            facts.append(("position", spot))
            tail = f" {g.pick(g.POSITION_WORDS[spot], rng)} the {g.pick(g.FRAME_WORDS, rng)}"
        elif form == "relative":
            rels = [r for r in relations(t, scene) if r["relation"] in g.RELATION_WORDS]
            if not rels:
                return None
            r = rels[int(rng.integers(len(rels)))]
            other = by_slot(scene)[r["other"]]
            other_facts, _ = _describe(other, scene, rng, colour_style, int(rng.integers(0, 2)))
            facts.append(("relation", r["relation"], other_facts))
            tail = f" {g.pick(g.RELATION_WORDS[r['relation']], rng)} {_phrase(other, other_facts, rng, colour_style)}"
        if referents(facts, scene, colour_style) != [t["slot"]]:
            # one more attribute of the target, when one is left, before drawing again
            left = [a[:2] for a in attributes(t, colour_style) if a[:2] not in facts and not (a[0] == "gender" and facts[0][1] in GENDERED)]
            if left:
                facts.insert(1, min(left, key=lambda a: len(referents(facts + [a], scene, colour_style))))
                extra += 1
            if referents(facts, scene, colour_style) != [t["slot"]]:
                continue
        head = [f for f in facts if f[0] not in ("position", "relation")]
        return Expression(_phrase(t, head, rng, colour_style) + tail, form, facts, extra)
    return None


def keyword_valid(t: dict, scene: list[dict]) -> bool:
    """False when another entity of the image shares the target's category or a synonym."""
    mine = set(names(t))
    return not any(e["slot"] != t["slot"] and mine & set(names(e)) for e in scene)


def express_entity(t: dict, scene: list[dict], per_entity: int, rng, colour_style: str = "css3") -> EntityTexts:
    """``per_entity`` expressions of ``t``, spread over the three forms, each unique in ``scene``."""
    out = EntityTexts(t["category"], keyword_valid(t, scene))
    forms = [FORMS[i % 3] for i in range(per_entity)]
    for form in forms:
        expr = None
        for f in (form, *[x for x in FORMS if x != form]):  # a form that cannot single out the target yields to another
            expr = one_expression(t, scene, f, rng, colour_style)
            if expr is not None:
                break
        if expr is None:
            out.notes.append(f"no {form} expression singles out slot {t['slot']} ({t['category']}) in {TRIES} tries")
        elif expr.text not in [e.text for e in out.expressions]:
            out.expressions.append(expr)
    return out


def express_image(rows: list[dict], seed: int, per_entity: int = 4, colour_style: str = "css3") -> list[dict]:
    """The expression columns for every row (entity) of one image, in slot order."""
    scene = sorted(rows, key=lambda r: r["slot"])
    out = []
    for t in scene:
        rng = np.random.default_rng([seed, t["slot"], 7])
        texts = express_entity(t, scene, per_entity, rng, colour_style)
        out.append(dict(
            keyword=texts.keyword, keyword_valid=texts.keyword_valid,
            expressions=[e.text for e in texts.expressions], expression_forms=[e.form for e in texts.expressions],
            expression_extra_attributes=[e.extra_attributes for e in texts.expressions],
            expression_notes=texts.notes,
        ))
    return out
