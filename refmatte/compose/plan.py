"""What to compose (paper 3.2 / 3.3): splits, 5:1:1 balancing, groups, per-image draws.

Everything here is a pure function of the annotated entities, the backgrounds, the
options and the seed: a plan is a list of :class:`ImagePlan`, each naming its entities,
background, arrangement and its own seed, so images can be rendered in any order, by
any worker, and come out the same.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

SUPERS = ("human", "animal", "object")
GROUP_SHAPE = {"human": 5, "animal": 1, "object": 1}  # paper: 5 humans, 1 animal, 1 object per group
ARRANGEMENTS = ("horizontal", "vertical", "depth")  # left/right, top/bottom, in front of/behind


@dataclass(frozen=True)
class ComposeOptions:
    split: str = "train"
    per_group: int = 20  # images per group (paper: 20 train, 10 test)
    groups: int | None = None  # groups of 5 humans, 1 animal, 1 object; None: the fewest that use every entity
    extra: int = 0  # images drawn from all candidates at random (paper: 2,800 train, 390 test)
    seed: int = 0
    min_category_size: int = 5  # categories with fewer entities (all splits) are long-tail: moved to train
    ratios: tuple[float, float, float] = (7.0, 2.0, 1.0)  # horizontal : vertical : depth
    long_side: int = 1024  # canvas long side (px); the background is resized to it
    overlap: tuple[float, float] = (0.1, 0.4)  # depth: share of the back entity hidden by the front one
    fill: tuple[float, float] = (0.35, 0.75)  # an entity's size along the arrangement's free axis, share of the canvas
    margin: float = 0.02  # share of the canvas side kept between entities and measured relations
    max_trials: int = 200
    jpeg_quality: int = 95
    expressions_per_entity: int = 4
    colour_style: str = "css3"  # colour words of the expressions: css3 or basic
    expression_style: str = "paper"  # paper (every true attribute) or concise (shortest unique)

    def as_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class ImagePlan:
    image_id: str
    split: str
    index: int
    seed: int
    group: int  # -1 for the extra images
    arrangement: str
    entity_ids: tuple[str, ...]  # in arrangement order: left to right, top to bottom, back to front
    background_id: str


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from the run's seed and an item's identity (stable across machines)."""
    h = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") >> 1


def split_of(entities: list[dict], min_category_size: int) -> dict[str, str]:
    """Entity id -> split: its source split, except long-tail categories, which go to train."""
    sizes = Counter(e["category"] for e in entities)
    return {e["entity_id"]: ("train" if sizes[e["category"]] < min_category_size else e["source_split"]) for e in entities}


@dataclass
class Plan:
    images: list[ImagePlan] = field(default_factory=list)
    groups: int = 0
    pool: dict[str, int] = field(default_factory=dict)  # super-category -> entities in the split
    balanced: dict[str, int] = field(default_factory=dict)  # super-category -> after duplication


def fewest_groups(sizes: dict[str, int]) -> int:
    """Groups needed for every entity to appear once: max(humans / 5, animals, objects), rounded up."""
    return max(math.ceil(sizes[s] / GROUP_SHAPE[s]) for s in SUPERS)


def _balanced(ids_by_super: dict[str, list[str]], rng: np.random.Generator,
              groups: int | None = None) -> tuple[int, dict[str, list[str]]]:
    """Duplicate entities so each super-category fills its share of G groups (5:1:1).

    G is ``groups`` (the paper's train split: 2,110, i.e. 10,550 : 2,110 : 2,110 after
    duplication), or the fewest that use every entity once.
    """
    fewest = fewest_groups({s: len(v) for s, v in ids_by_super.items()})
    if groups is not None and groups < fewest:
        sizes = ", ".join(f"{len(ids_by_super[s])} {s}" for s in SUPERS)
        raise ValueError(f"--groups {groups} would leave entities out: {sizes} need at least {fewest} groups of "
                         "5 humans, 1 animal and 1 object.")
    groups = groups or fewest
    out = {}
    for s in SUPERS:
        ids = list(ids_by_super[s])
        need = groups * GROUP_SHAPE[s]
        reps = [ids[i] for i in rng.permutation(len(ids))]
        full = (reps * math.ceil(need / len(ids)))[:need]  # every entity once before any twice
        out[s] = [full[i] for i in rng.permutation(need)]
    return groups, out


def plan_split(entities: list[dict], backgrounds: list[dict], opts: ComposeOptions) -> Plan:
    """The images of ``opts.split``. ``entities``: annotated, kept rows; ``backgrounds``: kept rows."""
    splits = split_of(entities, opts.min_category_size)
    if opts.per_group == 0 and opts.extra == 0:
        raise ValueError("nothing to compose: give --per-group or --extra above 0.")
    if sum(opts.ratios) <= 0:
        raise ValueError("--ratios must not all be 0.")
    mine = sorted((e for e in entities if splits[e["entity_id"]] == opts.split), key=lambda e: e["entity_id"])
    bgs = sorted(b["background_id"] for b in backgrounds if b["source_split"] == opts.split)
    if not bgs:
        raise ValueError(f"no {opts.split} backgrounds to compose on; ingest some with `refmatte backgrounds` (BG-20k's testval is test).")
    by_super = {s: [e["entity_id"] for e in mine if e["supercategory"] == s] for s in SUPERS}
    missing = [s for s in SUPERS if not by_super[s]]
    if missing:
        raise ValueError(f"split {opts.split} has no {' or '.join(missing)} entities to compose (annotate categories first, or lower --min-category-size).")
    rng = np.random.default_rng(derive_seed(opts.seed, opts.split, "balance"))
    groups, balanced = _balanced(by_super, rng, opts.groups)
    plan = Plan(groups=groups, pool={s: len(v) for s, v in by_super.items()}, balanced={s: len(v) for s, v in balanced.items()})
    members = []
    for g in range(groups):
        members.append([*balanced["human"][5 * g:5 * g + 5], balanced["animal"][g], balanced["object"][g]])
    everyone = [e["entity_id"] for e in mine]
    p = np.array(opts.ratios, float) / sum(opts.ratios)
    index = 0

    def draw(pool: list[str], group: int) -> None:
        nonlocal index
        seed = derive_seed(opts.seed, opts.split, index)
        r = np.random.default_rng(seed)
        arrangement = ARRANGEMENTS[int(r.choice(3, p=p))]
        n = 2 if arrangement == "depth" or len(set(pool)) < 3 else int(r.integers(2, 4))
        for _ in range(100):  # draw slots of the group (so 5:1:1 holds), never one entity twice
            chosen = tuple(pool[i] for i in r.choice(len(pool), n, replace=False))
            if len(set(chosen)) == n:
                break
        else:
            distinct = sorted(set(pool))
            chosen = tuple(distinct[i] for i in r.choice(len(distinct), n, replace=False))
        bg = bgs[int(r.integers(len(bgs)))]
        plan.images.append(ImagePlan(f"{opts.split}-{index:06d}", opts.split, index, seed, group, arrangement, chosen, bg))
        index += 1

    for g, group in enumerate(members):
        for _ in range(opts.per_group):
            draw(group, g)
    for _ in range(opts.extra):
        draw(everyone, -1)
    return plan
