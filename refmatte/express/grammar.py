"""The expression grammar as data (paper 3.2), and the pure functions that render it.

Three forms, each in the two shapes the paper gives:

- basic: "the <att> and <att> <obj>" or "the <obj> which is <att> and <att>";
- absolute: a basic phrase + "<position> the image";
- relative: a basic phrase + "<relation> the <att> <obj2>".

People get clothes as a post-modifier ("the woman in denim", "the man who is dressed in
knit"). Every word choice draws from the generator it is given; nothing else is random.
"""

from __future__ import annotations

import numpy as np

# relation measured in the composite (geometry.py) -> the words that may say it
RELATION_WORDS: dict[str, tuple[str, ...]] = {
    "left of": ("to the left of", "on the left side of", "left of"),
    "right of": ("to the right of", "on the right side of", "right of"),
    "above": ("above", "over", "higher than"),
    "below": ("below", "under", "underneath", "beneath"),
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
    "frontmost": ("at the front of",),
    "backmost": ("at the back of",),
    "middle": ("in the middle of", "in the center of"),
}
FRAME_WORDS = ("image", "picture", "photo")
WHICH = ("which", "that")
CLOTHES_SHAPES = ("in {}", "dressed in {}", "wearing {}")
PLURAL_NOUNS = {"glasses", "sunglasses", "skis", "scissors", "people", "jeans", "shorts"}


def article(word: str, definite: bool) -> str:
    if definite:
        return "the"
    return "an" if word[:1].lower() in "aeiou" else "a"


def join_words(words: list[str]) -> str:
    """["a"] -> "a"; ["a", "b"] -> "a and b"; ["a", "b", "c"] -> "a, b and c"."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def noun_phrase(noun: str, adjectives: list[str], clothes: str | None, shape: str, rng: np.random.Generator,
                definite: bool = True, person: bool = False) -> str:
    """One entity as a noun phrase, in the pre-modifier (``pre``) or relative-clause (``post``) shape."""
    verb = "are" if noun in PLURAL_NOUNS else "is"
    if shape == "pre" or not adjectives:
        head = " ".join([*adjectives[:1], noun]) if len(adjectives) <= 1 else f"{join_words(adjectives)} {noun}"
        phrase = f"{article(head, definite)} {head}"
    else:
        rel = "who" if person else WHICH[int(rng.integers(2))]
        phrase = f"{article(noun, definite)} {noun} {rel} {verb} {join_words(adjectives)}"
    if clothes:
        phrase += " " + CLOTHES_SHAPES[int(rng.integers(len(CLOTHES_SHAPES)))].format(clothes)
    return phrase


def pick(words: tuple[str, ...], rng: np.random.Generator) -> str:
    return words[int(rng.integers(len(words)))]
