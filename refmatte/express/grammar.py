"""The expression grammar as data (paper 3.2), and the pure functions that render it.

Three forms, each in the two shapes the paper gives:

- basic: "the/a <att>, <att> and <att> <obj>" or "the/a <obj> which/that is <att>, <att> and <att>";
- absolute: a basic phrase + "<position> the image";
- relative: a basic phrase + "<relation> the/a <att> <obj2>".

People get clothes after the noun, with the article English wants ("in a black suit",
"dressed in denim", "wearing jeans"). Every word choice draws from the generator it is
given; nothing else is random.
"""

from __future__ import annotations

import numpy as np

# relation measured in the composite (geometry.py) -> the words that may say it
RELATION_WORDS: dict[str, tuple[str, ...]] = {
    "left of": ("to the left of", "on the left side of", "on the left of"),
    "right of": ("to the right of", "on the right side of", "on the right of"),
    "above": ("above", "over", "higher than", "on top of"),
    "below": ("below", "under", "underneath", "beneath", "lower than"),
    "next to": ("next to", "beside", "close to"),
    "in front of": ("in front of",),
    "behind": ("behind", "at the back of", "in the back of"),
}
# absolute position (an extreme among the image's entities, or the middle third) -> words
POSITION_WORDS: dict[str, tuple[str, ...]] = {
    "leftmost": ("at the leftmost edge of", "on the far left of", "farthest to the left of", "at the most left side of"),
    "rightmost": ("at the rightmost edge of", "on the far right of", "farthest to the right of", "at the most right side of"),
    "topmost": ("at the top of", "in the upper part of"),
    "bottommost": ("at the bottom of", "in the lower part of"),
    "frontmost": ("at the front of", "in the foreground of"),
    "backmost": ("in the background of",),
    "middle": ("in the middle of", "in the center of"),
}
FRAME_WORDS = ("image", "picture", "photo")
WHICH = ("which", "that")
PLURAL_NOUNS = {"glasses", "sunglasses", "skis", "scissors", "people", "jeans", "shorts"}

# Clothes words (refmatte/annotate/clothes.py) by how English uses them after "in" / "wearing".
CLOTHES_COUNT = {"dress", "shirt", "t-shirt", "coat", "jacket", "suit", "sweater", "skirt", "maxi dress", "spacesuit"}
CLOTHES_PLURAL = {"jeans", "shorts", "trousers"}
CLOTHES_ADJECTIVE = {"striped", "sleeveless", "floral", "plaid"}  # said as "<word> clothes"
CLOTHES_SHAPES = ("in {}", "dressed in {}", "wearing {}")

# a/an follows the sound, not the letter
_AN_ANYWAY = ("hour", "honest", "honour", "honor", "heir")
_A_ANYWAY = ("uni", "use", "usu", "uten", "euro", "one", "once", "ewe", "u-")


def indefinite(word: str) -> str:
    """"a" or "an" for the word that follows it."""
    w = word.lower()
    if w.startswith(_AN_ANYWAY):
        return "an"
    if w.startswith(_A_ANYWAY):
        return "a"
    return "an" if w[:1] in "aeiou" else "a"


def article(word: str, definite: bool) -> str:
    return "the" if definite else indefinite(word)


def join_words(words: list[str]) -> str:
    """["a"] -> "a"; ["a", "b"] -> "a and b"; ["a", "b", "c"] -> "a, b and c"."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def clothes_phrase(words: list[str], colour: str | None) -> str:
    """The clothes as a noun phrase, the colour first: "a black suit", "black knit", "jeans",
    "striped clothes". Materials and patterns worn with a garment modify it ("a blue denim
    jacket"); several garments are joined ("a suit and jeans")."""
    garments = [w for w in words if w in CLOTHES_COUNT or w in CLOTHES_PLURAL]
    modifiers = [w for w in words if w not in garments]
    if not garments:  # materials and patterns only: "blue denim", "black knit and lace", "striped clothes"
        adjectives = [w for w in modifiers if w in CLOTHES_ADJECTIVE]
        materials = [w for w in modifiers if w not in CLOTHES_ADJECTIVE] or ["clothes"]
        return " ".join([*([colour] if colour else []), *adjectives, join_words(materials)])
    parts = []
    for i, garment in enumerate(garments):
        head = " ".join([*([colour] if i == 0 and colour else []), *(modifiers if i == 0 else []), garment])
        parts.append(f"{indefinite(head)} {head}" if garment in CLOTHES_COUNT else head)
    return join_words(parts)


def noun_phrase(noun: str, adjectives: list[str], clothes: str | None, shape: str, rng: np.random.Generator,
                definite: bool = True, person: bool = False) -> str:
    """One entity as a noun phrase, in the pre-modifier (``pre``) or relative-clause (``post``) shape.

    ``clothes`` is a :func:`clothes_phrase`; it follows the noun ("the woman in a black suit",
    "the woman who is salient and dressed in denim").
    """
    verb = "are" if noun in PLURAL_NOUNS else "is"
    wear = CLOTHES_SHAPES[int(rng.integers(len(CLOTHES_SHAPES)))].format(clothes) if clothes else None
    if shape == "pre" or not adjectives:
        head = f"{join_words(adjectives)} {noun}" if adjectives else noun
        phrase = f"{article(head, definite)} {head}"
        return f"{phrase} {wear}" if wear else phrase
    rel = "who" if person else WHICH[int(rng.integers(2))]
    if wear and wear.startswith("in "):
        wear = "dressed " + wear  # "who is ... and in a suit" reads badly; "dressed in a suit" does not
    return f"{article(noun, definite)} {noun} {rel} {verb} {join_words([*adjectives, *([wear] if wear else [])])}"


def pick(words: tuple[str, ...], rng: np.random.Generator) -> str:
    return words[int(rng.integers(len(words)))]
