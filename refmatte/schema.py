"""The declared pyarrow schemas of every manifest table: the single source of the datasheet.

Each column carries its meaning and unit as field metadata; ``docs/datasheet.md`` is
rendered from these declarations by ``python tools/gen_docs.py`` and a test fails when the
committed file differs. Conventions: pixel boxes are ``x0, y0, x1, y1`` in the pixel grid
of the image they refer to, ``x1``/``y1`` exclusive; paths are POSIX and relative to the
folder that holds the manifest; alpha is 8-bit (0 transparent, 255 opaque).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from refmatte.filters import REJECT_REASONS


def col(name: str, dtype: pa.DataType, unit: str, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, dtype, nullable=nullable, metadata={"unit": unit, "doc": doc})


_SOURCE_COLUMNS = [
    col("source", pa.string(), "-", "Adapter that found the file: am2k, p3m10k, aim500, dim, d646, sim, folder, sample (entities); bg20k, folder, sample (backgrounds).", False),
    col("source_key", pa.string(), "-", "Path of the image relative to the dataset root (for `folder`, prefixed by the folder's name).", False),
    col("source_split", pa.string(), "-", "The source dataset's own split, mapped to `train` or `test` (AM-2k validation, P3M validation, AIM-500, SIM -> test).", False),
    col("image_path", pa.string(), "path", "Source image relative to the manifest folder; null when the dataset lacks it."),
]

_PROVENANCE_COLUMNS = [
    col("source_fingerprint", pa.string(), "-", "Hash of name, size and mtime of the source files; re-ingestion skips rows whose fingerprint and config_hash are unchanged.", False),
    col("config_hash", pa.string(), "-", "Hash of the processing options that produced the row.", False),
    col("input_fixes", pa.list_(pa.string()), "-", "Normalisations applied while decoding (e.g. exif-orientation-6, image-cmyk-to-rgb, alpha-16bit-to-8bit).", False),
    col("reject_reason", pa.string(), "-", "Null for kept rows; otherwise one code from the reject-reason table below."),
    col("reject_detail", pa.string(), "-", "Human-readable detail for the rejection (sizes, measured values)."),
]

CLUSTER = pa.struct([("hex", pa.string()), ("name", pa.string()), ("share", pa.float32())])

# Filled by `refmatte annotate`, one group per annotator; each group's `<name>_by` records
# which annotator version, options and model produced it (null = not annotated yet).
ANNOTATION_COLUMNS = [
    col("category", pa.string(), "-", "Entry-level category name from the vocabulary (refmatte/data/vocabulary.csv)."),
    col("supercategory", pa.string(), "-", "human / animal / object, from the vocabulary."),
    col("category_source", pa.string(), "-", "Who decided the category: `hand` (labels import) > `source` (the dataset's own label) > `detector` (Mask R-CNN)."),
    col("category_confidence", pa.float32(), "score [0, 1]", "Detector score times mask IoU with the alpha for `detector`; 1 for `hand` and `source`."),
    col("detector_label", pa.string(), "-", "COCO label of the chosen Mask R-CNN detection, when the detector ran."),
    col("needs_review", pa.bool_(), "-", "True when no category could be decided with confidence: listed first by `refmatte labels export`."),
    col("category_by", pa.string(), "-", "Provenance of the category columns (annotator version, detector weights)."),
    col("synonyms", pa.list_(pa.string()), "-", "Reviewed synonyms of the category (refmatte/data/synonyms.csv), for the expression grammar."),
    col("synonyms_by", pa.string(), "-", "Provenance of `synonyms` (table version and the category it was looked up for)."),
    col("color_name", pa.string(), "-", "CSS3 colour name (webcolors) nearest in CIELAB to the entity's most frequent colour cluster."),
    col("color_basic", pa.string(), "-", "The basic colour term of color_name: one of black, white, gray, red, orange, yellow, green, blue, purple, pink, brown."),
    col("color_hex", pa.string(), "#rrggbb", "The most frequent cluster's mean colour (sRGB)."),
    col("color_clusters", pa.list_(CLUSTER), "-", "Every k-means cluster, largest first: mean colour, CSS3 name and share of the entity's alpha-weighted pixels."),
    col("color_second", pa.string(), "-", "CSS3 name of the largest other colour cluster whose basic term differs from color_basic, when it covers at least 25% of the entity (alpha-weighted); null otherwise."),
    col("color_by", pa.string(), "-", "Provenance of the colour columns (annotator version, k, pixel sample size)."),
    col("transparent", pa.bool_(), "-", "True when at least `TRANSPARENT_SEMI_SHARE` of the entity's pixels (alpha > 0) are semi-transparent (refmatte/annotate/traits.py)."),
    col("salient", pa.bool_(), "-", "False for non-salient entities (AIM-500's NS type: no compact opaque body, e.g. smoke, nets), else true."),
    col("matting_type", pa.string(), "-", "AIM-500 type: SO salient opaque, STM salient transparent/meticulous, NS non-salient; AIM-500's own label wins."),
    col("traits_by", pa.string(), "-", "Provenance of transparent / salient / matting_type (annotator version, thresholds)."),
    col("gender", pa.string(), "-", "female / male: from the face on a human entity, else from a category that states it (woman, boy ...); null otherwise (never guessed)."),
    col("gender_confidence", pa.float32(), "probability [0, 1]", "The backend's probability for `gender`; 1 when `gender_source` is category or hand."),
    col("gender_source", pa.string(), "-", "Who decided `gender`: `face` (the age/gender backend on a frontal face), `category` (no face found; the category states it: man, woman, boy, girl), `hand` (labels import)."),
    col("age_years", pa.float32(), "years", "The backend's age estimate for the face."),
    col("age_group", pa.string(), "-", "child (< 13), teenager (13-19), young (20-29), adult (30-59), senior (60+), from age_years; child or adult from the category when no face was found."),
    col("people_by", pa.string(), "-", "Provenance of gender and age (backend and its model files); set on every human entity looked at, face or not."),
    col("clothes", pa.list_(pa.string()), "-", "Clothes attributes (DeepFashion-style words: knit, lace, denim, dress ...) from CLIP zero-shot or hand labels."),
    col("clothes_scores", pa.list_(pa.float32()), "probability [0, 1]", "CLIP's probability for each word of `clothes`, same order."),
    col("clothes_color", pa.string(), "-", "CSS3 name of the clothes' dominant colour: k-means (as color_name) over the entity's opaque pixels (alpha >= 128) between 20% and 95% of its box height, skin-coloured pixels (YCrCb Cr 133-173, Cb 77-127) left out; null when clothes are unknown."),
    col("clothes_by", pa.string(), "-", "Provenance of clothes (CLIP model and weights, or hand)."),
]

ENTITY_SCHEMA = pa.schema(
    [
        col("entity_id", pa.string(), "-", "Stable id `<source>-<12 hex>` from a hash of source and source_key.", False),
        *_SOURCE_COLUMNS,
        col("source_subset", pa.string(), "-", "Sub-collection inside the source (P3M-500-P, Adobe-licensed images, ...)."),
        col("source_label", pa.string(), "-", "The source's own label: SIM class folder, AIM-500 type SO/STM/NS, a --labels file, or the sample pool's ground-truth entry-level category."),
        col("source_supercategory", pa.string(), "-", "human / animal / object when the source states it: for the whole source (P3M-10k human, AM-2k animal) or per item (the sample pool)."),
        col("source_attributes", pa.map_(pa.string(), pa.string()), "-", "Ground-truth attributes the source states per item (the sample pool: gender, age, color, clothes, transparent, skin_tone); empty for the public datasets."),
        col("alpha_path", pa.string(), "path", "Source alpha matte relative to the manifest folder; null when missing."),
        col("image_is_foreground", pa.bool_(), "-", "True when the source image is a foreground (DIM, D646, SIM, the sample pool), false for photographs.", False),
        col("width", pa.int32(), "px", "Image width after EXIF orientation."),
        col("height", pa.int32(), "px", "Image height after EXIF orientation."),
        col("alpha_area_fraction", pa.float32(), "fraction [0, 1]", "Share of image pixels with alpha > 0."),
        col("alpha_mean", pa.float32(), "fraction [0, 1]", "Mean alpha over the image (alpha / 255)."),
        col("alpha_semi_fraction", pa.float32(), "fraction [0, 1]", "Share of the entity's pixels (alpha > 0) that are semi-transparent (0 < alpha < 255)."),
        col("alpha_opaque_fraction", pa.float32(), "fraction [0, 1]", "Share of image pixels with alpha = 255."),
        col("alpha_band_px", pa.float32(), "px", "Mean width of the transition band: semi-transparent pixels / boundary length of the alpha >= 128 region. 0 for a hard binary mask, about 1 for anti-aliasing, more for hair and fur."),
        col("bbox_x0", pa.int32(), "px", "Left edge of the box of alpha > 0 pixels."),
        col("bbox_y0", pa.int32(), "px", "Top edge of the box of alpha > 0 pixels."),
        col("bbox_x1", pa.int32(), "px", "Right edge (exclusive) of the box of alpha > 0 pixels."),
        col("bbox_y1", pa.int32(), "px", "Bottom edge (exclusive) of the box of alpha > 0 pixels."),
        col("faces", pa.int16(), "count", "Frontal faces (OpenCV Haar cascade) found on the entity; null when the face filter does not apply to the source."),
        col("rgba_path", pa.string(), "path", "Cached RGBA PNG (foreground colour + alpha, 8-bit) relative to the manifest folder; null for rejected rows. Composition reads only these."),
        col("foreground_method", pa.string(), "-", "`given` (source ships foregrounds) or `estimate_foreground_ml` (pymatting's multi-level estimation from the photograph)."),
        *_PROVENANCE_COLUMNS,
        *ANNOTATION_COLUMNS,
    ]
)

BACKGROUND_SCHEMA = pa.schema(
    [
        col("background_id", pa.string(), "-", "Stable id `<source>-<12 hex>` from a hash of source and source_key.", False),
        *_SOURCE_COLUMNS,
        col("width", pa.int32(), "px", "Image width after EXIF orientation."),
        col("height", pa.int32(), "px", "Image height after EXIF orientation."),
        *_PROVENANCE_COLUMNS,
    ]
)

RELATION = pa.struct([("other", pa.int32()), ("relation", pa.string())])
# What one expression says, as facts a test or a user can re-check against the geometry (CLEVR keeps programs)
FACTS = pa.struct([("form", pa.string()), ("name", pa.string()), ("attributes", pa.list_(pa.string())),
                   ("position", pa.string()), ("relation", pa.string()), ("landmark_slot", pa.int8()),
                   ("landmark_name", pa.string()), ("landmark_attributes", pa.list_(pa.string()))])

COMPOSITE_SCHEMA = pa.schema(
    [
        col("image_id", pa.string(), "-", "`<split>-<index>`: the composite image; one row per (image, entity).", False),
        col("split", pa.string(), "-", "train or test.", False),
        col("image_path", pa.string(), "path", "Composite JPEG relative to the manifest folder.", False),
        col("matte_path", pa.string(), "path", "This entity's visible alpha matte (8-bit PNG) relative to the manifest folder.", False),
        col("width", pa.int32(), "px", "Composite width.", False),
        col("height", pa.int32(), "px", "Composite height.", False),
        col("background_id", pa.string(), "-", "Background row the image is composed on.", False),
        col("group", pa.int32(), "-", "Group of 5 humans, 1 animal, 1 object the entities were drawn from; -1 for the extra images.", False),
        col("seed", pa.int64(), "-", "Seed of every random choice of this image (from the run's seed, split and index).", False),
        col("compose_key", pa.string(), "-", "Hash of what the image depends on (plan, render options, source fingerprints): a re-run reuses the image only when it matches."),
        col("arrangement", pa.string(), "-", "Composing relationship: horizontal (left / right), vertical (top / bottom) or depth (in front of / behind).", False),
        col("n_entities", pa.int8(), "count", "Entities in the image (2 or 3; 2 for depth).", False),
        col("slot", pa.int8(), "-", "Order in the arrangement: left to right, top to bottom, or back to front (depth); the k of the matte file.", False),
        col("depth", pa.int8(), "-", "Drawing order for depth images (0 = back); 0 for the others, whose entities do not overlap.", False),
        col("entity_id", pa.string(), "-", "The entity (entities.parquet).", False),
        col("scale", pa.float32(), "factor", "Resize factor applied to the entity's cut-out (<= 1: entities are never enlarged).", False),
        col("x", pa.int32(), "px", "Left edge of the scaled cut-out on the composite.", False),
        col("y", pa.int32(), "px", "Top edge of the scaled cut-out on the composite.", False),
        col("crop_x0", pa.int32(), "px", "Cut-out box in the entity's cached RGBA (alpha > 0): left.", False),
        col("crop_y0", pa.int32(), "px", "Cut-out box: top.", False),
        col("crop_x1", pa.int32(), "px", "Cut-out box: right (exclusive).", False),
        col("crop_y1", pa.int32(), "px", "Cut-out box: bottom (exclusive).", False),
        col("bbox_x0", pa.int32(), "px", "Measured box of the visible matte (alpha >= 32/255): left; null when nothing is visible."),
        col("bbox_y0", pa.int32(), "px", "Measured box: top."),
        col("bbox_x1", pa.int32(), "px", "Measured box: right (exclusive)."),
        col("bbox_y1", pa.int32(), "px", "Measured box: bottom (exclusive)."),
        col("centroid_x", pa.float32(), "px", "Alpha-weighted centroid of the visible matte: x."),
        col("centroid_y", pa.float32(), "px", "Alpha-weighted centroid of the visible matte: y."),
        col("area_fraction", pa.float32(), "fraction [0, 1]", "Visible alpha summed over the image, as a share of the frame.", False),
        col("visible_fraction", pa.float32(), "fraction [0, 1]", "Visible alpha / the entity's own placed alpha (1 unless occluded).", False),
        col("position_h", pa.string(), "-", "Absolute horizontal position of the centroid: left, middle or right third."),
        col("position_v", pa.string(), "-", "Absolute vertical position of the centroid: top, middle or bottom third."),
        col("extremes", pa.list_(pa.string()), "-", "Extremes held among the image's entities: leftmost, rightmost, topmost, bottommost, frontmost, backmost; each when the relation (left of, ...) holds against every other entity.", False),
        col("relations", pa.list_(RELATION), "-", "Measured relations to the other entities (by slot): left of, right of, above, below (measured boxes apart by at least 2% of the frame side along that axis, ComposeOptions.margin), in front of, behind (the front one hides at least 2% of the other's pixels).", False),
        col("category", pa.string(), "-", "The entity's category (copied from entities.parquet for the grammar), likewise the columns below."),
        col("supercategory", pa.string(), "-", "human / animal / object."),
        col("synonyms", pa.list_(pa.string()), "-", "Reviewed synonyms of the category."),
        col("color_name", pa.string(), "-", "CSS3 colour name."),
        col("color_basic", pa.string(), "-", "Basic colour term."),
        col("color_second", pa.string(), "-", "Second colour (CSS3 name), when it covers at least 25% of the entity."),
        col("transparent", pa.bool_(), "-", "Transparent entity."),
        col("salient", pa.bool_(), "-", "Salient entity."),
        col("gender", pa.string(), "-", "female / male (from the face, or the category)."),
        col("age_group", pa.string(), "-", "child, teenager, young, adult, senior."),
        col("clothes", pa.list_(pa.string()), "-", "Clothes words."),
        col("clothes_color", pa.string(), "-", "CSS3 name of the clothes' colour."),
        col("keyword", pa.string(), "-", "Keyword setting: the entity's entry-level category name."),
        col("keyword_valid", pa.bool_(), "-", "False when another entity of the image shares the category or a synonym (the paper filters such images in the keyword setting)."),
        col("expressions", pa.list_(pa.string()), "-", "Referring expressions (expression setting), each checked to fit this entity and no other of the image."),
        col("expression_forms", pa.list_(pa.string()), "-", "Form of each expression: basic, absolute or relative (same order)."),
        col("expression_extra_attributes", pa.list_(pa.int8()), "count", "Attributes added to each expression to make it unambiguous (same order)."),
        col("expression_facts", pa.list_(FACTS), "-", "What each expression says (same order): form; the noun used; its attributes as kind=value (color, salient, transparent, gender, age_group, clothes, clothes_color); position key (leftmost, ..., middle) of an absolute expression; relation key (left of, ..., behind) and landmark_slot, landmark_name, landmark_attributes of a relative one."),
        col("expression_notes", pa.list_(pa.string()), "-", "Why fewer expressions than asked: forms that could not single out the entity."),
        col("expressions_by", pa.string(), "-", "Provenance: grammar version, seed, expressions per entity, colour style."),
    ]
)

BENCHMARK_SCHEMA = pa.schema(
    [
        col("image_id", pa.string(), "-", "The image's file stem in the official release.", False),
        col("split", pa.string(), "-", "train or test (RefMatte), rw100 (RefMatte-RW100).", False),
        col("image_path", pa.string(), "path", "The release's image, relative to the manifest folder.", False),
        col("matte_path", pa.string(), "path", "The release's alpha matte of this entity (8-bit PNG), relative to the manifest folder.", False),
        col("width", pa.int32(), "px", "Image width.", False),
        col("height", pa.int32(), "px", "Image height.", False),
        col("slot", pa.int8(), "-", "Entity index within its image: `k` of `<image>_<k>.png`, else the order of the entity keys.", False),
        col("entity_id", pa.string(), "-", "The entity's key in the release's label JSON (the matte's file stem).", False),
        col("keyword", pa.string(), "-", "Keyword (category) when the label JSON has one (`keyword`, `category` or `class`); null otherwise."),
        col("keyword_valid", pa.bool_(), "-", "True when `keyword` is set: the row takes part in the keyword setting.", False),
        col("expressions", pa.list_(pa.string()), "-", "The release's expressions for the entity, in its order.", False),
        col("eval_expression", pa.int32(), "-", "Index into `expressions` used at evaluation (RW100's eval_index_expression.json); null: clipmat picks one by a hash of matte_path."),
        col("source", pa.string(), "-", "refmatte or rw100: which release the row came from.", False),
    ]
)

TABLES: dict[str, pa.Schema] = {"entities": ENTITY_SCHEMA, "backgrounds": BACKGROUND_SCHEMA, "composites": COMPOSITE_SCHEMA,
                                "benchmark": BENCHMARK_SCHEMA}

TABLE_DOCS = {
    "entities": "`entities.parquet`: one row per candidate matting entity found by `refmatte ingest`, kept or rejected.",
    "backgrounds": "`backgrounds.parquet`: one row per candidate background found by `refmatte backgrounds`.",
    "composites": "`<split>.parquet` (train.parquet, test.parquet): one row per (composite image, entity) written by `refmatte compose`.",
    "benchmark": "`<split>.parquet` written by `refmatte import-refmatte` (train, test) and `refmatte import-rw100` (rw100): the official releases as manifests that `clipmat train / eval / score` read like composite manifests.",
}


def _type_name(t: pa.DataType) -> str:
    return str(t).replace("list<item: string>", "list<string>")


def render_datasheet() -> str:
    """Render every table's schema, and the reject reasons, as the Markdown datasheet."""
    lines = [
        "# Manifest datasheet",
        "",
        "<!-- Generated by `python tools/gen_docs.py` from refmatte/schema.py; do not edit by hand. -->",
        "",
        "Conventions: paths are POSIX and relative to the folder holding the manifest; pixel",
        "boxes are `x0, y0, x1, y1` with `x1`/`y1` exclusive; alpha is 8-bit, 0 transparent,",
        "255 opaque. Rows are sorted by id, so the same inputs give the same bytes.",
        "",
    ]
    for name, schema in TABLES.items():
        lines += [f"## {name}", "", TABLE_DOCS[name], "", "| column | type | null | unit | meaning |", "| --- | --- | --- | --- | --- |"]
        for f in schema:
            meta = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
            null = "yes" if f.nullable else "no"
            lines.append(f"| `{f.name}` | {_type_name(f.type)} | {null} | {meta['unit']} | {meta['doc']} |")
        lines.append("")
    lines += ["## Reject reasons", "", "| code | meaning |", "| --- | --- |"]
    lines += [f"| `{code}` | {doc} |" for code, doc in REJECT_REASONS.items()]
    lines.append("")
    return "\n".join(lines)


def _compatible(actual: pa.DataType, declared: pa.DataType) -> bool:
    """Whether a stored column of type ``actual`` holds the same kind of values as ``declared``.

    Only representations of the same kind pass (another integer width, large strings,
    all-null columns, dictionary-encoded strings, and what a pandas round trip makes: floats
    holding integers, maps as lists of key-value pairs); the cast that follows is checked
    to lose nothing. A string where a bool, list or number is declared never passes.
    """
    if actual == declared or pa.types.is_null(actual):
        return True
    if pa.types.is_dictionary(actual):
        return _compatible(actual.value_type, declared)
    if pa.types.is_string(declared):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual)
    if pa.types.is_integer(declared):
        return pa.types.is_integer(actual) or pa.types.is_floating(actual)  # safe cast: integral values only
    if pa.types.is_floating(declared):
        return pa.types.is_floating(actual) or pa.types.is_integer(actual)
    if pa.types.is_map(declared):
        if pa.types.is_map(actual):
            return _compatible(actual.key_type, declared.key_type) and _compatible(actual.item_type, declared.item_type)
        return (pa.types.is_list(actual) or pa.types.is_large_list(actual)) and (
            pa.types.is_null(actual.value_type)  # every map empty: pandas writes list<null>
            or pa.types.is_list(actual.value_type) and _compatible(actual.value_type.value_type, declared.item_type))
    if pa.types.is_list(declared):
        return (pa.types.is_list(actual) or pa.types.is_large_list(actual) or pa.types.is_fixed_size_list(actual)) \
            and _compatible(actual.value_type, declared.value_type)
    if pa.types.is_struct(declared):
        if not pa.types.is_struct(actual):
            return False
        have = {actual.field(i).name: actual.field(i).type for i in range(actual.num_fields)}
        return all(declared.field(i).name not in have or _compatible(have[declared.field(i).name], declared.field(i).type)
                   for i in range(declared.num_fields))
    return False


def _pairs_to_map(column: pa.ChunkedArray, declared: pa.DataType) -> pa.ChunkedArray:
    """A list of [key, value] lists (a map after a pandas round trip) as the declared map; ArrowInvalid otherwise."""
    values = column.to_pylist()
    if any(len(pair) != 2 for v in values if v for pair in v):
        raise pa.ArrowInvalid("entries are not [key, value] pairs")
    return pa.chunked_array([pa.array([None if v is None else [tuple(p) for p in v] for v in values], type=declared)])


def check_columns(table: pa.Table, fields: list[pa.Field], path: str) -> pa.Table:
    """``table`` with each of ``fields`` that it has cast to the declared type; ``ValueError`` naming
    ``path`` and the column when a stored type is of another kind, a value does not fit, or a
    required column holds nulls. Never a silent coercion: "False" strings stay an error."""
    for f in fields:
        if f.name not in table.schema.names:
            continue
        i = table.schema.get_field_index(f.name)
        column = table.column(i)
        if not _compatible(column.type, f.type):
            raise ValueError(f"{path}: column {f.name} is stored as {_type_name(column.type)} but must be "
                             f"{_type_name(f.type)}; rewrite it with that type (docs/datasheet.md).")
        if pa.types.is_integer(f.type) and pa.types.is_floating(column.type):
            largest = pc.max(pc.abs(column)).as_py()
            if largest is not None and largest > 2 ** 53:  # beyond 2**53 a float no longer holds the integer written
                raise ValueError(f"{path}: column {f.name} is stored as float and holds {largest:.6g}, too large to be "
                                 f"the {_type_name(f.type)} it was (floats are exact only up to 2**53); rewrite it "
                                 "with that type (docs/datasheet.md).")
        if column.type != f.type:
            try:
                column = _pairs_to_map(column, f.type) if pa.types.is_map(f.type) and not pa.types.is_map(column.type) \
                    else column.cast(f.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise ValueError(f"{path}: column {f.name} has values that do not fit {_type_name(f.type)} ({e}).") from None
            table = table.set_column(i, f, column)
        if not f.nullable and column.null_count:
            raise ValueError(f"{path}: column {f.name} has {column.null_count} empty value(s) but is required "
                             "in every row (docs/datasheet.md).")
    return table


def conform(table: pa.Table, schema: pa.Schema, path: str) -> pa.Table:
    """``table`` with the columns of ``schema``, in its order; raise ``ValueError`` naming ``path``.

    A nullable column added by a later version of refmatte is filled with nulls, so
    manifests written before it keep resuming; a missing required column means the file
    is not a manifest of this kind; a column stored with a type of another kind (a string
    where a bool or a list is declared) is refused, never coerced (:func:`check_columns`).
    """
    names = set(table.schema.names)
    required = [f.name for f in schema if f.name not in names and not f.nullable]
    if required:
        raise ValueError(
            f"{path} is not a refmatte {', '.join(k for k, v in TABLES.items() if v is schema) or ''} manifest "
            f"(missing columns: {', '.join(required)}); move it away or ingest into another --out folder."
        )
    table = check_columns(table, list(schema), path)
    for f in schema:
        if f.name not in names:
            table = table.append_column(f, pa.nulls(len(table), f.type))
    return table.select(schema.names).cast(schema)
