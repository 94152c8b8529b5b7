"""How true, rich and unique the expressions of composite manifests are, next to the paper's Table 1.

    python tools/expression_report.py MANIFEST [MANIFEST ...]

Per manifest: mean words per form and overall (Table 1: 16.86 train, 16.80 test); the share
of relative expressions whose relation disagrees with the measured boxes, of absolute ones
whose position does, and of expressions that also fit another entity of their image (all
three by refmatte.express.audit, which shares no code with the engine; each must be 0);
grammar problems; the share of entities carrying each attribute; the keyword_valid share.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from refmatte.express.audit import facts_true, grammar_problems, hides_of, position_true, relation_true  # noqa: E402
from refmatte.express.stats import length_by_form, read_manifest  # noqa: E402
from refmatte.schema import COMPOSITE_SCHEMA, conform  # noqa: E402

PAPER = {"train": 16.86, "test": 16.80}
ATTRIBUTES = ("color_name", "color_second", "salient", "transparent", "gender", "age_group", "clothes", "clothes_color")


def report(path: Path) -> list[tuple[str, str]]:
    kind, _ = read_manifest(path)  # checks the file and its kind
    if kind != "ours":
        raise SystemExit(f"{path}: only composite manifests carry facts to audit")
    rows = conform(pq.read_table(path), COMPOSITE_SCHEMA, str(path)).to_pylist()  # every column: facts, boxes
    scenes: dict[str, list[dict]] = {}
    for r in rows:
        scenes.setdefault(r["image_id"], []).append(r)
    wrong_rel = rel = wrong_pos = pos = ambiguous = texts = bad_grammar = 0
    for scene in scenes.values():
        scene.sort(key=lambda r: r["slot"])
        hides, slots = hides_of(scene), {r["slot"]: r for r in scene}
        for row in scene:
            for text, facts in zip(row["expressions"], row["expression_facts"]):
                texts += 1
                bad_grammar += bool(grammar_problems(text))
                ambiguous += any(o is not row and facts_true(o, facts, scene, hides) for o in scene)
                if facts["relation"]:
                    rel += 1
                    wrong_rel += not relation_true(row, slots[facts["landmark_slot"]], facts["relation"], scene, hides)
                if facts["position"]:
                    pos += 1
                    wrong_pos += not position_true(row, facts["position"], scene, hides)
    lengths = length_by_form(rows)
    split = rows[0]["split"] if rows else "train"
    out = [("images / entities / expressions", f"{len(scenes)} / {len(rows)} / {texts}")]
    out += [(f"words, {form}", "-" if v is None else f"{v:.2f}") for form, v in lengths.items()]
    out += [("Table 1 words (paper)", f"{PAPER.get(split, 16.86):.2f}"),
            ("ratio all / paper", f"{(lengths.get('all') or 0) / PAPER.get(split, 16.86):.3f}"),
            ("relative: relation false of boxes", f"{wrong_rel}/{rel} ({wrong_rel / max(rel, 1):.1%})"),
            ("absolute: position false of boxes", f"{wrong_pos}/{pos} ({wrong_pos / max(pos, 1):.1%})"),
            ("fits another entity too", f"{ambiguous}/{texts} ({ambiguous / max(texts, 1):.1%})"),
            ("grammar problems", f"{bad_grammar}/{texts}")]
    for a in ATTRIBUTES:
        have = sum(bool(r.get(a)) if a not in ("salient", "transparent") else r.get(a) is not None for r in rows)
        out.append((f"entities with {a}", f"{have / len(rows):.1%}"))
    out += [("entities non-salient", f"{sum(r['salient'] is False for r in rows) / len(rows):.1%}"),
            ("entities transparent", f"{sum(r['transparent'] is True for r in rows) / len(rows):.1%}"),
            ("keyword_valid", f"{sum(bool(r['keyword_valid']) for r in rows) / len(rows):.1%}")]
    return out


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    tables = [report(Path(p)) for p in sys.argv[1:]]
    print("| measure | " + " | ".join(sys.argv[1:]) + " |")
    print("| --- |" + " ---: |" * len(tables))
    for i, (label, _) in enumerate(tables[0]):
        print(f"| {label} | " + " | ".join(t[i][1] if i < len(t) else "" for t in tables) + " |")
