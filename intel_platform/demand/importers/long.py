"""The long-table importer: any daily sales table (CSV or Parquet, one row per store, item and
day) whose role columns the caller names; values are parsed and checked before anything lands."""

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from intel_platform.core.home import ProjectHome
from intel_platform.core.landing import publish
from intel_platform.demand import landing as zone
from intel_platform.demand.importers.common import (
    DAYS_PER_BLOCK,
    ImportSummary,
    check_categories,
    check_landing,
    line_id,
    publish_catalogs,
    publish_pos,
)

__all__ = ["import_long"]

DEFAULT_STORE, DEFAULT_ITEM, DEFAULT_CATEGORY = "S01", "ALL", "Grocery"
KEY = ("store", "item_id", "sale_date")
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
_FLAGS = {
    **dict.fromkeys(("1", "true", "t", "yes", "y"), True),
    **dict.fromkeys(("0", "false", "f", "no", "n"), False),
}
_UNSAFE_ID = r"[/\\\x00-\x1f]|^\.{0,2}$"  # ids become file names and CSV lines


@dataclass(frozen=True)
class _LongColumns:
    """Which input column plays which role; ``None`` means the role is absent from the table."""

    date: str
    units: str
    store: str | None
    item: str | None
    price: str | None
    promo: str | None
    open: str | None


def _read_table(file: Path, cols: _LongColumns) -> pl.DataFrame:
    """The role columns as stripped text (parsed later, so errors can quote bad values)."""
    if not file.is_file():
        raise ValueError(f"{file}: no such file")
    name = file.name.lower()
    if name.endswith((".parquet", ".pq")):
        frame = pl.read_parquet(file)
    elif name.endswith((".csv", ".csv.gz")):
        frame = pl.read_csv(file, infer_schema=False)
    else:
        raise ValueError(f"{file}: unsupported extension, expected .csv or .parquet")
    roles = [cols.date, cols.units, cols.store, cols.item, cols.price, cols.promo, cols.open]
    wanted = list(dict.fromkeys(c for c in roles if c is not None))
    if missing := [c for c in wanted if c not in frame.columns]:
        available = ", ".join(frame.columns)
        raise ValueError(f"{file}: missing column(s) {missing}; available: {available}")
    return frame.select(pl.col(wanted).cast(pl.String).str.strip_chars())


def _checked(file: Path, column: str, text: pl.Series, parsed: pl.Series, what: str) -> pl.Series:
    """``parsed``, unless a non-empty value failed to parse: then the import stops, quoting it."""
    bad = text.filter(parsed.is_null() & text.is_not_null() & (text != ""))
    if bad.len():
        raise ValueError(
            f"{file}: column {column!r} has {bad.len()} value(s) that are not {what}, "
            f"e.g. {bad[0]!r}"
        )
    return parsed


def _parse_dates(file: Path, column: str, text: pl.Series) -> pl.Series:
    """ISO dates, or ISO datetimes whose calendar day is kept; anything else (or empty) fails."""
    iso = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    parsed = pl.select(pl.when(text.str.contains(_ISO_DATE)).then(iso)).to_series()
    shown = text.fill_null("").str.replace(r"^$", "<empty>")
    return _checked(file, column, shown, parsed, "ISO dates (YYYY-MM-DD[THH:MM:SS])")


def _parse_numbers(file: Path, column: str, text: pl.Series) -> pl.Series:
    """Floats; whole numbers become integers so units read ``3`` rather than ``3.0``."""
    parsed = _checked(
        file, column, text, text.cast(pl.Float64, strict=False).fill_nan(None), "numbers"
    )
    whole = parsed.drop_nulls()
    return parsed.cast(pl.Int64) if (whole == whole.round()).all() else parsed


def _parse_flags(file: Path, column: str, text: pl.Series) -> pl.Series:
    """Booleans from true/false, yes/no, y/n, t/f or numbers (non-zero is true)."""
    lower = text.str.to_lowercase()
    named = lower.replace_strict(_FLAGS, default=None, return_dtype=pl.Boolean)
    parsed = named.fill_null(lower.cast(pl.Float64, strict=False) != 0)
    return _checked(file, column, text, parsed, "true/false flags")


def _long_ids(file: Path, frame: pl.DataFrame, column: str | None, default: str) -> pl.Series:
    """Store or item ids; a table without the column is one store / one store-level series."""
    if column is None:
        return pl.repeat(default, frame.height, eager=True, dtype=pl.String)
    ids = frame[column]
    if (bad := ids.filter(ids.is_null() | ids.str.contains(_UNSAFE_ID))).len():
        raise ValueError(
            f"{file}: column {column!r} has {bad.len()} empty or unusable id(s) "
            f"(ids become file names), e.g. {bad[0]!r}"
        )
    return ids


def _long_rows(file: Path, cols: _LongColumns) -> pl.DataFrame:
    """The table as POS rows (plus ``is_open`` when known), each value parsed and checked."""
    frame = _read_table(file, cols)
    if frame.is_empty():
        raise ValueError(f"{file}: no rows")
    rows = pl.DataFrame(
        {
            "store": _long_ids(file, frame, cols.store, DEFAULT_STORE),
            "item_id": _long_ids(file, frame, cols.item, DEFAULT_ITEM),
            "sale_date": _parse_dates(file, cols.date, frame[cols.date]),
            "units": _parse_numbers(file, cols.units, frame[cols.units]),
        }
    )
    price, promo = pl.lit(None, pl.Float64), pl.lit(False)
    if cols.price is not None:
        price = _parse_numbers(file, cols.price, frame[cols.price]).cast(pl.Float64)
    if cols.promo is not None:
        promo = _parse_flags(file, cols.promo, frame[cols.promo]).fill_null(False)
    rows = rows.with_columns(unit_price=price, on_promo=promo.cast(pl.Int8))
    if cols.open is None:
        return rows
    return rows.with_columns(is_open=_parse_flags(file, cols.open, frame[cols.open]))


def _check_long_rows(file: Path, rows: pl.DataFrame, open_col: str | None) -> pl.DataFrame:
    """Duplicate keys and sales on closed days are contradictions the user must resolve."""
    dups = rows.group_by(KEY).len().filter(pl.col("len") > 1).sort(KEY)
    if dups.height:
        store, item, day, count = dups.row(0)
        raise ValueError(
            f"{file}: {dups.height} (store, item, date) key(s) appear more than once, e.g. "
            f"store={store!r} item={item!r} date={day} x{count}; aggregate them first "
            "(the importer does not sum)"
        )
    if open_col is None:
        return rows
    closed = pl.col("is_open").not_().fill_null(False)
    if (sold := rows.filter(closed & (pl.col("units").fill_null(0) != 0))).height:
        store, item, day = sold.row(0)[:3]
        raise ValueError(
            f"{file}: {sold.height} row(s) have units on a day {open_col!r} marks closed, "
            f"e.g. store={store!r} item={item!r} date={day}"
        )
    return rows.with_columns(units=pl.when(closed).then(0).otherwise(pl.col("units")))


def _long_catalogs(rows: pl.DataFrame, category: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Launch and open dates are the first dates seen; the table names no state or department."""
    products = rows.group_by("item_id").agg(
        item_name=pl.col("item_id").first(),
        category=pl.lit(category),
        department=pl.lit(None, pl.String),
        launch_date=pl.col("sale_date").min(),
        base_price=pl.col("unit_price").median(),
    )
    stores = rows.group_by(store_id="store").agg(
        store_name=pl.col("store").first(),
        state=pl.lit(None, pl.String),
        open_date=pl.col("sale_date").min(),
    )
    return products, stores


def _split_plan(rows: pl.DataFrame, plan_from: date | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows dated ``plan_from`` or later are the plan, not sales: their promotion and opening
    flags (known in advance) become the forecast horizon's covariates. Explicit, because a
    trailing row without units may as well be a missing day."""
    if plan_from is None:
        return rows, rows.clear()
    ahead = pl.col("sale_date") >= plan_from
    flags = [c for c in ("on_promo", "is_open") if c in rows.columns]
    planned = rows.filter(ahead).select(
        pl.col("store").alias("store_id"), "item_id", pl.col("sale_date").alias("date"),
        *(pl.col(c).alias("promo" if c == "on_promo" else c) for c in flags),
    )  # fmt: skip
    return rows.filter(~ahead), planned


def import_long(  # noqa: PLR0913 - keyword options mirror the CLI flags one to one
    home: ProjectHome,
    file: Path,
    *,
    date_col: str,
    units_col: str,
    store_col: str | None = None,
    item_col: str | None = None,
    price_col: str | None = None,
    promo_col: str | None = None,
    open_col: str | None = None,
    category: str = DEFAULT_CATEGORY,
    plan_from: date | None = None,
) -> ImportSummary:
    """Land any long daily sales table: one row per (store, item, day), CSV or Parquet; rows
    from ``plan_from`` on are planned flags for days ahead (``catalog/plan.csv``).

    Every product gets ``category`` (a known spelling): the table carries none, and guessing one
    would be inventing.
    """
    file = Path(file)
    cols = _LongColumns(date_col, units_col, store_col, item_col, price_col, promo_col, open_col)
    check_categories(home, [category], "category")
    rows, planned = _split_plan(_long_rows(file, cols), plan_from)
    rows = _check_long_rows(file, rows, open_col)
    extra = ["is_open"] if open_col else []
    rows = rows.with_columns(pos_line_id=line_id("L")).select(*zone.POS_COLUMNS, *extra)
    pairs = rows.select("sale_date", "store").unique().iter_rows()
    check_landing(home, {zone.pos_file(home, day, store) for day, store in pairs})
    block = (pl.col("sale_date").dt.epoch("d") // DAYS_PER_BLOCK).alias("block")
    parts = (
        rows.sort("sale_date", "store", "item_id")
        .with_columns(block)
        .partition_by("block", include_key=False)
    )
    files = sum(publish_pos(home, part) for part in parts)
    products, stores = _long_catalogs(rows, category)
    files += publish_catalogs(home, products, stores)
    if planned.height:
        publish(zone.plan_file(home), planned.write_csv)
        files += 1
    days = rows.select(
        pl.col("sale_date").n_unique(), first=pl.min("sale_date"), last=pl.max("sale_date")
    )
    n_days, first, last = days.row(0)
    return ImportSummary(stores.height, products.height, n_days, rows.height, files, first, last)
