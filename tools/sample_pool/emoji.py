"""Clip-art entities of the sample pool: Twemoji SVGs rasterised with resvg-py.

Names and categories come from emoji-datasource; each entry below names the emoji by its
short name there, gives the entry-level category a person would use, and the ground-truth
attributes the emoji states (a "woman walking" is female and adult). The super-category is
derived from emoji-datasource's sub-category and checked against the one written here, so
a typo cannot put a dog among the objects.

Both npm packages are fetched with ``npm pack`` at pinned versions and checked against
their published sha512 integrity; the tarballs are cached under ``--cache``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

# (package, version, npm dist.integrity): a rebuild refuses a tarball that differs
TWEMOJI = ("@discordapp/twemoji", "16.0.1", "sha512-figLiBWzjS5cyrAjLaGjM8AAaowO3qvK8rg5bA2dElB4qsaPMvBVlFDMO2d3x+nC1igt7kgWH4dvNmvvUHUF8w==")
DATASOURCE = ("emoji-datasource", "16.0.0", "sha512-/qHKqK5Nr3+8zhgO6kHmF43Fm5C8HNn0AaFRIpgw8HF3+uF0Vfc8jgLI1ZQS5ba1vBzksS8NBCjHejwLb2D/Sg==")
CANVAS, PAD = 512, 24  # output size; transparent margin so no entity touches the frame

# Fitzpatrick modifiers, to give the people a spread of skin tones
TONES = {"light": "1F3FB", "medium-light": "1F3FC", "medium": "1F3FD", "medium-dark": "1F3FE", "dark": "1F3FF"}


@dataclass(frozen=True)
class Emoji:
    short_name: str  # emoji-datasource short name
    category: str  # entry-level category
    supercategory: str
    attributes: dict = field(default_factory=dict)
    tone: str | None = None  # key of TONES, people only


EMOJI = (
    Emoji("woman_standing", "woman", "human", {"gender": "female", "age": "adult"}, "medium"),
    Emoji("man_standing", "man", "human", {"gender": "male", "age": "adult"}, "dark"),
    Emoji("woman-walking", "woman", "human", {"gender": "female", "age": "adult"}, "light"),
    Emoji("man-running", "man", "human", {"gender": "male", "age": "adult"}, "medium-light"),
    Emoji("dancer", "woman", "human", {"gender": "female", "age": "adult", "clothes": "dress"}, "medium-dark"),
    Emoji("man_dancing", "man", "human", {"gender": "male", "age": "adult", "clothes": "suit"}, "medium"),
    Emoji("girl", "girl", "human", {"gender": "female", "age": "child"}, "medium-light"),
    Emoji("boy", "boy", "human", {"gender": "male", "age": "child"}, "dark"),
    Emoji("baby", "baby", "human", {"age": "baby"}, "light"),
    Emoji("older_woman", "woman", "human", {"gender": "female", "age": "elderly"}, "medium"),
    Emoji("dog2", "dog", "animal"),
    Emoji("cat2", "cat", "animal"),
    Emoji("racehorse", "horse", "animal"),
    Emoji("rabbit2", "rabbit", "animal"),
    Emoji("elephant", "elephant", "animal", {"color": "gray"}),
    Emoji("cow2", "cow", "animal"),
    Emoji("sheep", "sheep", "animal"),
    Emoji("duck", "duck", "animal"),
    Emoji("parrot", "parrot", "animal"),
    Emoji("penguin", "penguin", "animal"),
    Emoji("tiger2", "tiger", "animal", {"color": "orange"}),
    Emoji("kangaroo", "kangaroo", "animal"),
    Emoji("umbrella", "umbrella", "object"),
    Emoji("school_satchel", "backpack", "object"),
    Emoji("bike", "bicycle", "object"),
    Emoji("car", "car", "object", {"color": "red"}),
    Emoji("chair", "chair", "object"),
    Emoji("guitar", "guitar", "object"),
    Emoji("teapot", "teapot", "object"),
    Emoji("potted_plant", "potted plant", "object"),
    Emoji("balloon", "balloon", "object", {"color": "red"}),
    Emoji("teddy_bear", "teddy bear", "object"),
    Emoji("handbag", "handbag", "object"),
    Emoji("kite", "kite", "object"),
)


def supercategory_of(subcategory: str) -> str:
    """emoji-datasource sub-category -> the paper's super-category."""
    if subcategory.startswith("person") or subcategory in {"family", "person-role", "person-fantasy"}:
        return "human"
    if subcategory.startswith("animal"):
        return "animal"
    return "object"


def npm_pack(spec: tuple[str, str, str], cache: Path) -> Path:
    """The package tarball at the pinned version, fetched once into ``cache``."""
    name, version, expected = spec
    cache.mkdir(parents=True, exist_ok=True)
    tgz = cache / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not tgz.exists():
        subprocess.run(["npm", "pack", f"{name}@{version}", "--pack-destination", str(cache)], check=True, capture_output=True)
    if integrity(tgz) != expected:
        raise ValueError(f"{tgz} does not match the published integrity of {name}@{version}; delete it and re-run.")
    return tgz


def integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def _member(tgz: Path, inner: str) -> bytes:
    with tarfile.open(tgz) as tar:
        return tar.extractfile(f"package/{inner}").read()


def load_datasource(tgz: Path) -> dict[str, dict]:
    """emoji-datasource entries by every short name."""
    entries = json.loads(_member(tgz, "emoji.json"))
    return {s: e for e in entries for s in e["short_names"]}


def codepoints(entry: dict, tone: str | None) -> str:
    unified = entry["unified"] if tone is None else entry["skin_variations"][TONES[tone]]["unified"]
    return unified.lower()


def svg_name(unified: str, names: set[str]) -> str:
    """Twemoji's file name: the code points, without FE0F when the file is named so."""
    for cand in (unified, unified.replace("-fe0f", "")):
        if f"package/dist/svg/{cand}.svg" in names:
            return cand
    raise KeyError(f"no Twemoji SVG for {unified}")


def render(svg: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Rasterise an SVG into a CANVAS-square RGB + alpha with a PAD margin."""
    import resvg_py

    inner = CANVAS - 2 * PAD
    png = bytes(resvg_py.svg_to_bytes(svg_string=svg.decode(), width=inner, height=inner))
    bgra = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    rgba = np.zeros((CANVAS, CANVAS, 4), np.uint8)
    rgba[PAD:PAD + inner, PAD:PAD + inner] = bgra[..., [2, 1, 0, 3]]
    return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3])


def build(cache: Path):
    """Yield ``(emoji, entry, unified, rgb, alpha)`` for every entry of :data:`EMOJI`."""
    tw, ds = npm_pack(TWEMOJI, cache), npm_pack(DATASOURCE, cache)
    data = load_datasource(ds)
    with tarfile.open(tw) as tar:
        names = set(tar.getnames())
        for e in EMOJI:
            entry = data[e.short_name]
            derived = supercategory_of(entry["subcategory"])
            if derived != e.supercategory:
                raise ValueError(f"{e.short_name}: emoji-datasource says {derived}, the table says {e.supercategory}")
            unified = svg_name(codepoints(entry, e.tone), names)
            svg = tar.extractfile(f"package/dist/svg/{unified}.svg").read()
            yield e, entry, unified, *render(svg)
