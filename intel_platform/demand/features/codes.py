"""Stable integer codes for the catalog values models see as categories (store, item,
category, department).

A model learns its splits on codes, so a code must name the same value for as long as any
model trained on it serves. Codes are therefore assigned once and never change: a value new to
the catalog gets the next code of its field (new values in sorted order among themselves), and
a value that leaves the catalog keeps its code, so no code is ever reused. Positions in sorted
values would renumber every item after a launch sorting before them, and the champion would
read one item's history as another's. A first codebook is the positions in the sorted values.
"""

__all__ = ["CODES_SCHEMA", "catalog_codes", "catalog_items", "field_enum"]

import polars as pl

CODES_SCHEMA = {"field": pl.String, "value": pl.String, "code": pl.Int32}
_CATALOG_FIELDS = ("item_id", "category", "department")


def catalog_codes(
    products: pl.DataFrame,
    stores: pl.DataFrame | pl.Series,
    previous: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The codebook (``CODES_SCHEMA``, codes 0..n-1 per field): ``previous`` unchanged plus a
    code for every store id and catalog value it lacks."""
    store_ids = stores if isinstance(stores, pl.Series) else stores["store_id"]
    values = {"store_id": store_ids, **{name: products[name] for name in _CATALOG_FIELDS}}
    known = pl.DataFrame(schema=CODES_SCHEMA) if previous is None else previous
    known = known.select(list(CODES_SCHEMA)).cast(CODES_SCHEMA)
    frames = [known]
    for field, column in values.items():
        taken = known.filter(pl.col("field") == field)
        new = sorted({str(v) for v in column.to_list() if v is not None} - set(taken["value"]))
        codes = range(taken.height, taken.height + len(new))
        frames.append(pl.DataFrame({"field": field, "value": new, "code": codes}, CODES_SCHEMA))
    return pl.concat(frames).sort("field", "code")


def catalog_items(products: pl.DataFrame) -> pl.DataFrame:
    """One row per catalog item (the first listed wins): item_id, category, department as
    strings. What the category and department codes of an item's rows are read from."""
    return (
        products.select(pl.col(*_CATALOG_FIELDS).cast(pl.String))
        .filter(pl.col("item_id").is_not_null())
        .unique("item_id", keep="first", maintain_order=True)
    )


def field_enum(codes: pl.DataFrame, field: str) -> pl.Enum:
    """An Enum of the field's values in code order: a cast's physical value is the code."""
    return pl.Enum(codes.filter(pl.col("field") == field).sort("code")["value"])
