"""Importers: land a user's own sales history (M5 layout or any long daily table) as demand data.

The platform reads only the landing zone, so real data runs through the same assets as the demo
once written in the source shapes of ``demand/landing.py``: POS files per store and day plus the
product and store catalogs (ecom and inventory are optional downstream). A missing row means "not
launched yet / unknown", never zero demand: rows start at an item's launch, later zeros are kept.
A landing zone already holding another data set is refused: mixing two would corrupt every model.
"""

from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import polars as pl

from intel_platform.core.home import ProjectHome
from intel_platform.core.landing import publish, refuse_foreign_files
from intel_platform.core.rules import normalized_spelling
from intel_platform.demand import landing as zone
from intel_platform.demand.contracts import category_aliases

__all__ = ["ImportSummary", "events_file", "import_long", "import_m5"]

EVENT_COLUMNS = ("date", "event_name", "event_type")
M5_SALES_FILES = ("sales_train_evaluation.csv", "sales_train_validation.csv")
M5_ID_COLUMNS = ("item_id", "dept_id", "cat_id", "store_id", "state_id")
M5_EVENT_PAIRS = (("event_name_1", "event_type_1"), ("event_name_2", "event_type_2"))
DAYS_PER_BLOCK = 28  # 30k series x 28 days ~ 0.85 M rows in memory at a time
DEFAULT_STORE, DEFAULT_ITEM, DEFAULT_CATEGORY = "S01", "ALL", "Grocery"
UNPRICED_BASE_PRICE = 1.0
KEY = ("store", "item_id", "sale_date")
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
_FLAGS = {
    **dict.fromkeys(("1", "true", "t", "yes", "y"), True),
    **dict.fromkeys(("0", "false", "f", "no", "n"), False),
}
_UNSAFE_ID = r"[/\\\x00-\x1f]|^\.{0,2}$"  # ids become file names and CSV lines


@dataclass(frozen=True)
class ImportSummary:
    """What an import landed, for the CLI to print and tests to assert on."""

    stores: int
    items: int
    days: int
    pos_rows: int
    files_written: int
    first_date: date
    last_date: date


def events_file(home: ProjectHome) -> Path:
    """Calendar events (holidays, sports, religious days) that features may use as holidays."""
    return zone.landing_root(home) / zone.CATALOG / "events.csv"


def _write_text(text: str, path: Path) -> None:
    path.write_text(text, encoding="utf-8")


def _line_id(prefix: str) -> pl.Expr:
    """``<prefix>-<store>-<item>-<date>``: unique because (store, item, date) is the grain."""
    day = pl.col("sale_date").cast(pl.String)
    return pl.concat_str(pl.lit(prefix), "store", "item_id", day, separator="-")


def _publish_pos(home: ProjectHome, rows: pl.DataFrame) -> int:
    """One POS file per (day, store) run of ``rows``; returns how many were written.

    Rows are rendered to CSV once and sliced per file (a long table can mean a million tiny
    store-day files); callers pass them grouped by day and store, else they are sorted here.
    """
    key = pl.struct("sale_date", "store")
    runs = rows.select(run=key.rle()).unnest("run").unnest("value")
    if runs.select("sale_date", "store").is_duplicated().any():
        rows = rows.sort("sale_date", "store", "item_id")
        runs = rows.select(run=key.rle()).unnest("run").unnest("value")
    header, lines = ",".join(rows.columns), rows.write_csv(include_header=False).split("\n")
    start = 0
    for count, day, store in runs.iter_rows():
        body = "\n".join([header, *lines[start : start + count], ""])
        publish(zone.pos_file(home, day, store), partial(_write_text, body))
        start += count
    return runs.height


def _check_landing(home: ProjectHome, targets: set[Path]) -> None:
    """Any landed sales, web-order or inventory file."""
    refuse_foreign_files(
        zone.landing_root(home), (zone.POS_SALES, zone.ECOM_ORDERS, zone.INVENTORY), targets
    )


def _publish_catalogs(home: ProjectHome, products: pl.DataFrame, stores: pl.DataFrame) -> int:
    """Reference files are replaced whole: they describe the data set just landed.

    The product contract needs a positive base price; an item never priced (a table without a
    price column) gets ``UNPRICED_BASE_PRICE``, so units double as revenue.
    """
    price = pl.col("base_price").fill_null(UNPRICED_BASE_PRICE)
    products = products.with_columns(price).select(zone.PRODUCT_COLUMNS).sort("item_id")
    publish(zone.products_file(home), products.write_csv)
    publish(zone.stores_file(home), stores.select(zone.STORE_COLUMNS).sort("store_id").write_csv)
    return 2


def _check_categories(home: ProjectHome, spellings: list[str], origin: str) -> None:
    """Only spellings the harmonized layer maps (shipped aliases plus the home's own): an unknown
    one would quarantine the whole catalog, and an invented one would split a department."""
    known = category_aliases(home.mappings)
    given = pl.Series(spellings, dtype=pl.String)
    if (unknown := given.filter(~normalized_spelling(given).is_in(known["alias"]))).len():
        mine = home.mappings / "category_aliases.csv"
        raise ValueError(
            f"{origin}: category {unknown[0]!r} is not in category_aliases.csv (known: "
            f"{', '.join(known['category'].unique().sort())}); add it to {mine}"
        )


def _read_m5_inputs(m5_dir: Path, days: int | None) -> tuple[Path, list[str], pl.DataFrame]:
    """The sales file (evaluation preferred: it has 28 more days), its day columns, the calendar."""
    sales = next((m5_dir / n for n in M5_SALES_FILES if (m5_dir / n).is_file()), None)
    missing = [n for n in ("calendar.csv", "sell_prices.csv") if not (m5_dir / n).is_file()]
    if sales is None or missing:
        need = missing + ([" or ".join(M5_SALES_FILES)] if sales is None else [])
        raise ValueError(f"{m5_dir}: not an M5 folder, missing {', '.join(need)}")
    header = pl.read_csv(sales, n_rows=0).columns
    if absent := [c for c in M5_ID_COLUMNS if c not in header]:
        raise ValueError(f"{sales}: missing column(s) {absent}; available: {header[:8]}...")
    d_cols = [c for c in header if c.startswith("d_")]
    if days is not None and not 1 <= days <= len(d_cols):
        raise ValueError(f"days must be between 1 and {len(d_cols)} for {sales}, got {days}")
    calendar = pl.read_csv(m5_dir / "calendar.csv", infer_schema=False)
    if absent := [c for c in ("date", "wm_yr_wk", "d") if c not in calendar.columns]:
        raise ValueError(f"{m5_dir / 'calendar.csv'}: missing column(s) {absent}")
    calendar = calendar.with_columns(
        pl.col("date").str.to_date("%Y-%m-%d"), pl.col("wm_yr_wk").cast(pl.Int32)
    )
    return sales, d_cols[:days], calendar


def _m5_window(calendar: pl.DataFrame, d_cols: list[str], source: Path) -> pl.DataFrame:
    """Day index, M5 day name, date and week of every imported day, in order."""
    order = pl.DataFrame({"d": d_cols, "idx": pl.arange(len(d_cols), eager=True, dtype=pl.Int32)})
    window = order.join(calendar.select("d", "date", wk="wm_yr_wk"), on="d", how="left")
    if window["date"].null_count():
        bad = window.filter(pl.col("date").is_null())["d"][0]
        raise ValueError(f"{source}: day column {bad!r} has no row in calendar.csv")
    return window


def _m5_series(
    sales: Path, d_cols: list[str], stores: list[str] | None, items: list[str] | None
) -> pl.DataFrame:
    """The selected series as a wide Int16 frame (~120 MB for all 30k) with a series id.

    Sorted by store then item, so unpivoting a block yields rows grouped by day and store.
    """
    frame = pl.scan_csv(sales, schema_overrides=dict.fromkeys(d_cols, pl.Int16))
    for column, wanted in (("store_id", stores), ("item_id", items)):
        if wanted is not None:
            frame = frame.filter(pl.col(column).is_in(wanted))
    wide = frame.select(*M5_ID_COLUMNS, *d_cols).collect().sort("store_id", "item_id")
    for column, wanted in (("store_id", stores), ("item_id", items)):
        if unknown := sorted(set(wanted or ()) - set(wide[column])):
            raise ValueError(f"{sales}: unknown {column} value(s) {unknown[:5]}")
    if wide.is_empty():
        raise ValueError(f"{sales}: no series selected")
    return wide.with_row_index("sid")


def _m5_starts(wide: pl.DataFrame, prices: pl.DataFrame, window: pl.DataFrame) -> pl.Series:
    """Index of each series' first active day: its first priced week, or an earlier sale.

    M5 pads with zeros before launch, so rows before the first price are not demand; a sale
    before any price would still be real, so it is never dropped. Null: never active here.
    """
    week_start = window.group_by("wk").agg(pl.col("idx").min()).sort("wk")
    first_week = prices.group_by("sid").agg(first_wk=pl.col("wk").min()).sort("first_wk")
    priced = first_week.join_asof(week_start, left_on="first_wk", right_on="wk", strategy="forward")
    d_cols = window["d"].to_list()
    blocks = [
        range(lo, min(lo + DAYS_PER_BLOCK, len(d_cols)))
        for lo in range(0, len(d_cols), DAYS_PER_BLOCK)
    ]
    first_sale = [  # per block of days: 1941 columns at once would cost ~240 MB of temporaries
        wide.select(pl.min_horizontal(pl.when(pl.col(d_cols[i]) > 0).then(i) for i in block))
        for block in blocks
    ]
    sold = wide.select("sid", sale_idx=pl.min_horizontal(f.to_series() for f in first_sale))
    priced = priced.select("sid", price_idx=pl.col("idx").cast(pl.Int64))
    starts = sold.join(priced, on="sid", how="left", maintain_order="left")
    return starts.select(start_idx=pl.min_horizontal("sale_idx", "price_idx"))["start_idx"]


def _m5_block(
    wide: pl.DataFrame, d_cols: list[str], window: pl.DataFrame, prices: pl.DataFrame
) -> pl.DataFrame:
    """POS rows of a block of days: long, active-only, priced from the week's sell price."""
    weeks = window.filter(pl.col("d").is_in(d_cols))["wk"]
    week_prices = prices.filter(pl.col("wk").is_between(weeks.min(), weeks.max()))
    index = ["sid", "start_idx", "store_id", "item_id"]
    rows = (
        wide.select(*index, *d_cols)
        .unpivot(on=d_cols, index=index, variable_name="d", value_name="units")
        .join(window, on="d", maintain_order="left")
        .filter(pl.col("idx") >= pl.col("start_idx"))
        .join(week_prices, on=["sid", "wk"], how="left", maintain_order="left")
        .rename({"store_id": "store", "date": "sale_date", "price": "unit_price"})
    )
    return rows.with_columns(pos_line_id=_line_id("M5"), on_promo=pl.lit(0, pl.Int8)).select(
        zone.POS_COLUMNS
    )


def _m5_catalogs(
    home: ProjectHome, wide: pl.DataFrame, prices: pl.DataFrame, window: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Products launch on their first active day over stores; stores open on their first."""
    _check_categories(home, wide["cat_id"].str.to_lowercase().unique().to_list(), "M5 cat_id")
    active = wide.select("sid", *M5_ID_COLUMNS, "start_idx").join(
        window.select(start_idx="idx", start="date"), on="start_idx"
    )
    price = prices.join(active.select("sid", "item_id"), on="sid").group_by("item_id")
    products = active.group_by("item_id").agg(
        item_name=pl.col("item_id").first(),
        category=pl.col("cat_id").first().str.to_lowercase(),
        department=pl.col("dept_id").first(),
        launch_date=pl.col("start").min(),
    )
    base_price = price.agg(base_price=pl.col("price").median())
    products = products.join(base_price, on="item_id", how="left")
    stores = active.group_by(store_id="store_id").agg(
        store_name=pl.col("store_id").first(),
        state=pl.col("state_id").first(),
        open_date=pl.col("start").min(),
    )
    return products, stores


def _m5_events(calendar: pl.DataFrame) -> pl.DataFrame:
    """Both event columns of the whole calendar, long: future events help the forecast horizon."""
    pairs = [(n, t) for n, t in M5_EVENT_PAIRS if {n, t} <= set(calendar.columns)]
    frames = [calendar.select("date", event_name=pl.col(n), event_type=pl.col(t)) for n, t in pairs]
    schema = {"date": pl.Date, "event_name": pl.String, "event_type": pl.String}
    events = pl.concat([pl.DataFrame(schema=schema), *frames])
    return events.filter(pl.col("event_name").is_not_null()).unique().sort("date", "event_name")


def import_m5(
    home: ProjectHome,
    m5_dir: Path,
    *,
    stores: list[str] | None = None,
    items: list[str] | None = None,
    days: int | None = None,
) -> ImportSummary:
    """Land the M5 (Walmart) data set, or a subset of stores, items and first ``days`` days.

    The wide sales matrix is held as Int16 and unpivoted a block of days at a time, so the full
    set (30k series x 1941 days, 59 M rows) never exists as one long frame.
    """
    m5_dir = Path(m5_dir)
    sales, d_cols, calendar = _read_m5_inputs(m5_dir, days)
    window = _m5_window(calendar, d_cols, sales)
    wide = _m5_series(sales, d_cols, stores, items)
    prices = (
        pl.scan_csv(m5_dir / "sell_prices.csv", schema_overrides={"wm_yr_wk": pl.Int32})
        .filter(pl.col("wm_yr_wk") <= window["wk"].max())
        .join(wide.lazy().select("sid", "store_id", "item_id"), on=["store_id", "item_id"])
        .select("sid", wk="wm_yr_wk", price="sell_price")
        .collect()
    )
    wide = wide.with_columns(start_idx=_m5_starts(wide, prices, window))  # null: never active
    if wide["start_idx"].is_null().all():
        raise ValueError(f"{sales}: no selected series is active in the first {len(d_cols)} days")
    dates, first = window["date"].to_list(), int(wide["start_idx"].min())
    store_start = wide.group_by("store_id").agg(pl.col("start_idx").min()).iter_rows()
    _check_landing(home, {zone.pos_file(home, d, s) for s, i in store_start for d in dates[i:]})
    files = pos_rows = 0
    for lo in range(0, len(d_cols), DAYS_PER_BLOCK):
        block = _m5_block(wide, d_cols[lo : lo + DAYS_PER_BLOCK], window, prices)
        files, pos_rows = files + _publish_pos(home, block), pos_rows + block.height
    products, store_rows = _m5_catalogs(home, wide, prices, window)
    files += _publish_catalogs(home, products, store_rows) + 1
    publish(events_file(home), _m5_events(calendar).write_csv)
    days_landed = len(dates) - first
    return ImportSummary(
        store_rows.height, products.height, days_landed, pos_rows, files, dates[first], dates[-1]
    )


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
    _check_categories(home, [category], "category")
    rows, planned = _split_plan(_long_rows(file, cols), plan_from)
    rows = _check_long_rows(file, rows, open_col)
    extra = ["is_open"] if open_col else []
    rows = rows.with_columns(pos_line_id=_line_id("L")).select(*zone.POS_COLUMNS, *extra)
    pairs = rows.select("sale_date", "store").unique().iter_rows()
    _check_landing(home, {zone.pos_file(home, day, store) for day, store in pairs})
    block = (pl.col("sale_date").dt.epoch("d") // DAYS_PER_BLOCK).alias("block")
    parts = (
        rows.sort("sale_date", "store", "item_id")
        .with_columns(block)
        .partition_by("block", include_key=False)
    )
    files = sum(_publish_pos(home, part) for part in parts)
    products, stores = _long_catalogs(rows, category)
    files += _publish_catalogs(home, products, stores)
    if planned.height:
        publish(zone.plan_file(home), planned.write_csv)
        files += 1
    days = rows.select(
        pl.col("sale_date").n_unique(), first=pl.min("sale_date"), last=pl.max("sale_date")
    )
    n_days, first, last = days.row(0)
    return ImportSummary(stores.height, products.height, n_days, rows.height, files, first, last)
