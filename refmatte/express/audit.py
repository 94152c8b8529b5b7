"""An audit of stored expressions, deliberately separate from the engine (engine.py): it re-reads
each expression's facts (``expression_facts``) against the measured boxes with its own rules,
and the text with regular expressions. Tests and ``tools/expression_report.py`` use it; a
relation word that is false of the boxes, a description that also fits another entity, or
a bare "left of" is found here whatever the engine did.

Occlusion cannot be read from boxes: ``hides`` maps (front slot, back slot) to True, from
the stored relations or a test's own ground truth.
"""

from __future__ import annotations

import re

from refmatte import taxonomy
from refmatte.express import grammar as g

MARGIN, NEAR = 0.02, 0.3  # the rules the engine claims: boxes 2% of the side apart; next to within 30% of the width


def hides_of(scene: list[dict]) -> dict[tuple[int, int], bool]:
    """(front, back) slot pairs of one image from its stored "in front of" relations."""
    return {(r["slot"], x["other"]): True for r in scene for x in (r.get("relations") or []) if x["relation"] == "in front of"}



def relation_true(a: dict, b: dict, relation: str, scene: list[dict], hides: dict) -> bool:
    gap_x, gap_y = MARGIN * a["width"], MARGIN * a["height"]
    if relation == "left of":
        return a["bbox_x1"] + gap_x <= b["bbox_x0"]
    if relation == "right of":
        return b["bbox_x1"] + gap_x <= a["bbox_x0"]
    if relation == "above":
        return a["bbox_y1"] + gap_y <= b["bbox_y0"]
    if relation == "below":
        return b["bbox_y1"] + gap_y <= a["bbox_y0"]
    if relation == "next to":
        lo, hi = (a["bbox_x1"], b["bbox_x0"]) if a["bbox_x1"] <= b["bbox_x0"] else (b["bbox_x1"], a["bbox_x0"])
        between = any(x["slot"] not in (a["slot"], b["slot"]) and x["bbox_x0"] < hi and x["bbox_x1"] > lo for x in scene)
        return hi - lo >= gap_x and hi - lo <= NEAR * a["width"] and not between
    if relation == "in front of":
        return hides.get((a["slot"], b["slot"]), False)
    if relation == "behind":
        return hides.get((b["slot"], a["slot"]), False)
    raise AssertionError(relation)


def position_true(e: dict, spot: str, scene: list[dict], hides: dict) -> bool:
    others = [o for o in scene if o["slot"] != e["slot"]]
    third = {"leftmost": ("position_h", "left"), "rightmost": ("position_h", "right"), "topmost": ("position_v", "top"),
             "bottommost": ("position_v", "bottom")}
    relation = {"leftmost": "left of", "rightmost": "right of", "topmost": "above", "bottommost": "below",
                "frontmost": "in front of", "backmost": "behind"}
    if spot == "middle":
        return e["position_h"] == "middle" and e["position_v"] == "middle"
    in_third = spot not in third or e[third[spot][0]] == third[spot][1]
    return in_third and all(relation_true(e, o, relation[spot], scene, hides) for o in others)


def attribute_true(e: dict, text: str) -> bool:
    kind, value = text.split("=", 1)
    if kind == "clothes":
        return value in (e["clothes"] or [])
    if kind in ("salient", "transparent"):
        return str(e[kind]).lower() == value
    return str(e.get("color_name" if kind == "color" else kind)) == value


def name_true(e: dict, name: str) -> bool:
    return name == e["category"] or name in e["synonyms"] or taxonomy.name_fits(name, e["category"])


def facts_true(e: dict, facts: dict, scene: list[dict], hides: dict) -> bool:
    if not name_true(e, facts["name"]) or not all(attribute_true(e, a) for a in facts["attributes"]):
        return False
    if facts["position"] and not position_true(e, facts["position"], scene, hides):
        return False
    if facts["relation"]:
        return any(x["slot"] != e["slot"] and relation_true(e, x, facts["relation"], scene, hides)
                   and name_true(x, facts["landmark_name"]) and all(attribute_true(x, a) for a in facts["landmark_attributes"])
                   for x in scene)
    return True


FAMILY = {"left of": "h", "right of": "h", "next to": "h", "above": "v", "below": "v", "in front of": "d", "behind": "d"}


def relation_words_in(text: str) -> set[str]:
    """Relations whose words the text holds (longest phrase first, each occurrence counted once)."""
    rest, found = f" {text} ", set()
    for phrase in sorted((w for ws in g.POSITION_WORDS.values() for w in ws), key=len, reverse=True):
        rest = rest.replace(f" {phrase} the ", " | ")  # "farthest to the left of the image" is a position
    for phrase, relation in sorted(((w, r) for r, ws in g.RELATION_WORDS.items() for w in ws), key=lambda p: -len(p[0])):
        if f" {phrase} " in rest:
            found.add(relation)
            rest = rest.replace(f" {phrase} ", " | ")
    return found


def grammar_problems(text: str) -> list[str]:
    problems = []
    if re.search(r"(?<!the )(?<!far )\b(left|right) of\b", text):
        problems.append("bare left/right of")
    for art, word in re.findall(r"\b(a|an) ([\w-]+)", text):
        vowel = word[0] in "aeiou" and not word.startswith(("uni", "use", "one", "eu"))
        if (art == "an") != vowel:
            problems.append(f"{art} {word}")
    count = "suit|dress|shirt|t-shirt|coat|jacket|skirt|sweater"
    if re.search(rf"\b(in|wearing|dressed in) (?!an? )([\w-]+ )?({count})\b", text):
        problems.append("count noun without article")
    if re.search(rf"\ban? ([\w-]+ )?(denim|knit|lace|linen|leather|chiffon|jeans|shorts)\b(?! ({count})\b)", text):
        problems.append("article before a mass or plural noun")
    if re.search(r"\b(people|jeans|glasses|scissors|shorts|skis) (who|which|that) is\b", text):
        problems.append("agreement")
    if re.search(r"\b(someone|somebody|individual)\b", text):
        problems.append("pronoun-like noun")
    return problems


