"""Expressions that single out their target (paper 3.2, done better than the official data).

An expression is built from facts (a name, attributes, an absolute position, a relation
to a landmark entity). Before it is kept, the facts are evaluated on every entity of the
image with the measured geometry and the annotations: only the target may satisfy them.
A name fits every entity whose category is that name, one of its synonyms, or a narrower
category (refmatte.taxonomy): "the person" fits a woman and a man alike.

Two styles:

- ``paper`` (default): the target is described with every attribute that is true of it
  (colour, salient, transparent, gender, age, clothes with their colour), and so is a
  relative expression's landmark, as the paper's basic form asks ("as many attributes as
  one can"); "the" or "a".
- ``concise``: the shortest unique description: a name and a few attributes drawn at
  random, more added one by one only while another entity still fits.

When a form cannot single out the target it yields to another, and an entity that still
cannot be singled out gets a note instead. The keyword setting's ``keyword_valid`` is
false when another entity of the image could be called by the target's category.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from refmatte import taxonomy
from refmatte.express import grammar as g

FORMS = ("basic", "absolute", "relative")
# the forms of an entity's expressions, in turn: after one of each, relative ones (the longest, and
# the form RIM is about), then absolute; per entity 4 gives basic, absolute, relative, relative
FORM_CYCLE = ("basic", "absolute", "relative", "relative", "absolute", "basic")
STYLES = ("paper", "concise")
TRIES = 20
INDEFINITE = 0.25  # share of "a" over "the" (the paper uses both)
GENDERED = {"man", "woman", "boy", "girl", "gentleman", "lady", "adult male", "adult female", "male child", "female child",
            "male person", "female person"}
AGE_WORDS = {"young": "young", "senior": "senior"}
NEAR = 0.3  # "next to": boxes at most this share of the image width apart, no entity between
# the arrangement's own relations are spoken first (paper 3.3: left/right : top/bottom : front/behind = 7:2:1)
ARRANGEMENT_RELATIONS = {"horizontal": ("left of", "right of", "next to"), "vertical": ("above", "below"),
                         "depth": ("in front of", "behind")}
OWN_RELATION_SHARE = 0.85


def _list(value) -> list:
    """A list column's value as a list (Arrow gives lists or None, pandas numpy arrays)."""
    return [] if value is None else list(value)


def by_slot(scene: list[dict]) -> dict[int, dict]:
    return {e["slot"]: e for e in scene}


def _box(e: dict) -> tuple | None:
    return None if e.get("bbox_x0") is None else (e["bbox_x0"], e["bbox_y0"], e["bbox_x1"], e["bbox_y1"])


def relations(e: dict, scene: list[dict]) -> list[dict]:
    """The measured relations of ``e`` to other entities present in ``scene``, plus "next to"
    for a horizontal neighbour whose box is near (``NEAR`` of the image width) with no entity between."""
    slots = by_slot(scene)
    out = [r for r in _list(e.get("relations")) if r["other"] in slots and r["other"] != e["slot"]]
    for r in list(out):
        if r["relation"] not in ("left of", "right of"):
            continue
        a, b = _box(e), _box(slots[r["other"]])
        if a is None or b is None or not e.get("width"):
            continue
        lo, hi = (a[2], b[0]) if r["relation"] == "left of" else (b[2], a[0])  # the gap between the two boxes
        between = any(x["slot"] not in (e["slot"], r["other"]) and _box(x) is not None
                      and _box(x)[0] < hi and _box(x)[2] > lo for x in scene)
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
    """Nouns for ``e``: its category, then its reviewed synonyms."""
    return [e["category"], *[s for s in _list(e.get("synonyms")) if s != e["category"]]]


def _colour(e: dict, colour_style: str, column: str = "color_name") -> str | None:
    """A colour of ``e`` in the style asked: the CSS3 name, or its basic term ("basic")."""
    name = e.get(column)
    if colour_style == "css3" or name is None:
        return name
    if column == "color_name":
        return e.get("color_basic")
    from refmatte.annotate.color import BASIC_OF  # sklearn behind it: only when asked

    return BASIC_OF.get(name, name)


def attributes(e: dict, colour_style: str) -> list[tuple[str, object, str]]:
    """(kind, value, word) adjectives that are true of ``e``, in the order they are spoken."""
    out = []
    if e.get("salient") is not None:
        out.append(("salient", bool(e["salient"]), "salient" if e["salient"] else "non-salient"))
    if e.get("transparent") is not None:
        out.append(("transparent", bool(e["transparent"]), "transparent" if e["transparent"] else "non-transparent"))
    if e.get("age_group") in AGE_WORDS:
        out.append(("age_group", e["age_group"], AGE_WORDS[e["age_group"]]))
    if e.get("gender"):
        out.append(("gender", e["gender"], e["gender"]))
    colour = _colour(e, colour_style)
    if colour:
        out.append(("color", colour, colour))
        second = _colour(e, colour_style, "color_second")
        if second and second != colour:  # "the orange and black tiger"
            out.append(("color_second", second, second))
    return out


def holds(e: dict, fact: tuple, scene: list[dict], colour_style: str) -> bool:
    kind = fact[0]
    if kind == "name":
        return fact[1] in names(e) or taxonomy.name_fits(fact[1], e["category"])
    if kind == "color":
        return _colour(e, colour_style) == fact[1]
    if kind == "color_second":
        return _colour(e, colour_style, "color_second") == fact[1]
    if kind in ("transparent", "salient", "gender", "age_group"):
        return e.get(kind) is not None and (bool(e[kind]) if kind in ("transparent", "salient") else e[kind]) == fact[1]
    if kind == "clothes":
        return fact[1] in _list(e.get("clothes"))
    if kind == "clothes_color":
        return bool(_list(e.get("clothes"))) and _colour(e, colour_style, "clothes_color") == fact[1]
    if kind == "position":
        return fact[1] in spots(e)
    if kind == "relation":  # (relation, landmark slot, facts of the landmark)
        _, relation, _, other = fact
        slots = by_slot(scene)
        return any(r["relation"] == relation and matches(slots[r["other"]], other, scene, colour_style)
                   for r in relations(e, scene))
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

    def record(self) -> dict:
        """The facts as stored in ``expression_facts`` (see the datasheet)."""
        return facts_record(self.form, self.facts)


def _attribute_strings(facts: list[tuple]) -> list[str]:
    return [f"{f[0]}={str(f[1]).lower() if isinstance(f[1], bool) else f[1]}" for f in facts
            if f[0] not in ("name", "position", "relation")]


def facts_record(form: str, facts: list[tuple]) -> dict:
    relation = next((f for f in facts if f[0] == "relation"), None)
    landmark = relation[3] if relation else []
    return dict(
        form=form, name=next(f[1] for f in facts if f[0] == "name"), attributes=_attribute_strings(facts),
        position=next((f[1] for f in facts if f[0] == "position"), None),
        relation=relation[1] if relation else None, landmark_slot=relation[2] if relation else None,
        landmark_name=next((f[1] for f in landmark if f[0] == "name"), None) if relation else None,
        landmark_attributes=_attribute_strings(landmark) if relation else [],
    )


@dataclass
class EntityTexts:
    keyword: str
    keyword_valid: bool
    expressions: list[Expression] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _pool(e: dict, name: str, colour_style: str) -> list[tuple]:
    """Every attribute fact of ``e`` that may be said with ``name`` (a gendered noun takes no gender word)."""
    pool = [a[:2] for a in attributes(e, colour_style) if not (a[0] == "gender" and name in GENDERED)]
    clothes = _list(e.get("clothes"))
    pool += [("clothes", c) for c in clothes]
    if clothes and e.get("clothes_color"):
        pool.append(("clothes_color", _colour(e, colour_style, "clothes_color")))
    return pool


def _name(e: dict, rng, style: str) -> str:
    ns = names(e)
    if style == "paper":  # sometimes the broader word the official data likes ("the female person", "the animal")
        wider = sorted(taxonomy.broader(e["category"]))
        if wider and rng.random() < 0.15:
            return wider[int(rng.integers(len(wider)))]
    return ns[0] if len(ns) == 1 or rng.random() < 0.7 else ns[1 + int(rng.integers(len(ns) - 1))]


def _describe(e: dict, scene: list[dict], rng, colour_style: str, style: str, k: int) -> tuple[list[tuple], int]:
    """A name and attributes of ``e``: all of them (paper), or ``k`` plus what makes it unique (concise)."""
    name = _name(e, rng, style)
    pool = _pool(e, name, colour_style)
    if style == "paper":
        return [("name", name), *pool], 0
    order = [pool[i] for i in rng.permutation(len(pool))]
    order = [a for a in order if a[0] != "clothes_color"] + [a for a in order if a[0] == "clothes_color"]
    facts = [("name", name)] + order[:k]
    left = order[k:]
    extra = 0
    while left and referents(facts, scene, colour_style) != [e["slot"]]:
        # greedy: the attribute that rules out the most other entities (first drawn wins ties)
        best = min(left, key=lambda a: len(referents(facts + [a], scene, colour_style)))
        facts.append(best)
        left.remove(best)
        extra += 1
    return _clothes_colour_needs_clothes(facts, e), extra


def _clothes_colour_needs_clothes(facts: list[tuple], e: dict) -> list[tuple]:
    """A clothes colour is only said with a clothes word: add the first one when missing."""
    if any(f[0] == "clothes_color" for f in facts) and not any(f[0] == "clothes" for f in facts):
        facts = facts + [("clothes", _list(e.get("clothes"))[0])]
    return facts


def _phrase(e: dict, facts: list[tuple], rng, colour_style: str, style: str) -> str:
    words = {a[:2]: a[2] for a in attributes(e, colour_style)}
    name = next(f[1] for f in facts if f[0] == "name")
    adjectives = [words[a[:2]] for a in attributes(e, colour_style) if a[:2] in facts]  # spoken in a fixed order
    clothes = [f[1] for f in facts if f[0] == "clothes"]
    colour = next((f[1] for f in facts if f[0] == "clothes_color"), None)
    shape = "post" if adjectives and rng.random() < 0.4 else "pre"
    definite = style == "concise" or rng.random() >= INDEFINITE
    person = e.get("supercategory") == "human"
    return g.noun_phrase(name, adjectives, g.clothes_phrase(clothes, colour) if clothes else None, shape, rng,
                         definite=definite, person=person)


def _relation(t: dict, scene: list[dict], rng) -> dict | None:
    """A true relation of ``t``: one of its arrangement's own relations first, when it has one."""
    rels = [r for r in relations(t, scene) if r["relation"] in g.RELATION_WORDS]
    own = [r for r in rels if r["relation"] in ARRANGEMENT_RELATIONS.get(t.get("arrangement"), ())]
    if own and (len(own) == len(rels) or rng.random() < OWN_RELATION_SHARE):
        rels = own
    return rels[int(rng.integers(len(rels)))] if rels else None


def one_expression(t: dict, scene: list[dict], form: str, rng, colour_style: str = "css3",
                   style: str = "paper") -> Expression | None:
    """An expression of ``form`` that fits ``t`` and no other entity of ``scene``, or None."""
    for _ in range(TRIES):
        facts, extra = _describe(t, scene, rng, colour_style, style, int(rng.integers(0, 3)))
        tail = ""
        if form == "absolute":
            true_spots = spots(t)
            if not true_spots:
                return None
            spot = true_spots[int(rng.integers(len(true_spots)))]
            facts.append(("position", spot))
            tail = f" {g.pick(g.POSITION_WORDS[spot], rng)} the {g.pick(g.FRAME_WORDS, rng)}"
        elif form == "relative":
            r = _relation(t, scene, rng)
            if r is None:
                return None
            other = by_slot(scene)[r["other"]]
            other_facts, _ = _describe(other, scene, rng, colour_style, style, int(rng.integers(0, 2)))
            facts.append(("relation", r["relation"], r["other"], other_facts))
            tail = f" {g.pick(g.RELATION_WORDS[r['relation']], rng)} {_phrase(other, other_facts, rng, colour_style, style)}"
        if referents(facts, scene, colour_style) != [t["slot"]]:
            if style == "paper":
                continue  # every attribute is said already: only another draw (name, relation) can help
            # one more attribute of the target, when one is left, before drawing again
            name = facts[0][1]
            left = [a for a in _pool(t, name, colour_style) if a not in facts]
            if left:
                facts.insert(1, min(left, key=lambda a: len(referents(facts + [a], scene, colour_style))))
                facts = _clothes_colour_needs_clothes(facts, t)
                extra += 1
            if referents(facts, scene, colour_style) != [t["slot"]]:
                continue
        head = [f for f in facts if f[0] not in ("position", "relation")]
        return Expression(_phrase(t, head, rng, colour_style, style) + tail, form, facts, extra)
    return None


def keyword_valid(t: dict, scene: list[dict]) -> bool:
    """False when another entity of the image could be called by the target's keyword or a synonym:
    the same or a related category (synonym, broader or narrower: a woman next to a person)."""
    return not any(e["slot"] != t["slot"] and (taxonomy.related(t["category"], e["category"])
                                                or set(names(t)) & set(names(e))) for e in scene)


def express_entity(t: dict, scene: list[dict], per_entity: int, rng, colour_style: str = "css3",
                   style: str = "paper") -> EntityTexts:
    """``per_entity`` expressions of ``t``, spread over the three forms, each unique in ``scene``."""
    if style not in STYLES:
        raise ValueError(f"expression style must be one of {', '.join(STYLES)}, not {style!r}.")
    out = EntityTexts(t["category"], keyword_valid(t, scene))
    forms = [FORM_CYCLE[i % len(FORM_CYCLE)] for i in range(per_entity)]
    for form in forms:
        expr = None
        for f in (form, *[x for x in FORMS if x != form]):  # a form that cannot single out the target yields to another
            expr = one_expression(t, scene, f, rng, colour_style, style)
            if expr is not None:
                break
        if expr is None:
            out.notes.append(f"no {form} expression singles out slot {t['slot']} ({t['category']}) in {TRIES} tries")
        elif expr.text not in [e.text for e in out.expressions]:
            out.expressions.append(expr)
    return out


def express_image(rows: list[dict], seed: int, per_entity: int = 4, colour_style: str = "css3",
                  style: str = "paper") -> list[dict]:
    """The expression columns for every row (entity) of one image, in slot order."""
    scene = sorted(rows, key=lambda r: r["slot"])
    out = []
    for t in scene:
        rng = np.random.default_rng([seed, t["slot"], 7])
        texts = express_entity(t, scene, per_entity, rng, colour_style, style)
        out.append(dict(
            keyword=texts.keyword, keyword_valid=texts.keyword_valid,
            expressions=[e.text for e in texts.expressions], expression_forms=[e.form for e in texts.expressions],
            expression_extra_attributes=[e.extra_attributes for e in texts.expressions],
            expression_facts=[e.record() for e in texts.expressions],
            expression_notes=texts.notes,
        ))
    return out
