"""The M5 (Walmart) importer: a wide sales matrix, a calendar and weekly sell prices become POS
rows from each series' first active day, plus catalogs and the calendar's events."""

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
    events_file,
    line_id,
    publish_catalogs,
    publish_pos,
)

__all__ = ["import_m5"]

M5_SALES_FILES = ("sales_train_evaluation.csv", "sales_train_validation.csv")
M5_ID_COLUMNS = ("item_id", "dept_id", "cat_id", "store_id", "state_id")
M5_EVENT_PAIRS = (("event_name_1", "event_type_1"), ("event_name_2", "event_type_2"))


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
    return rows.with_columns(pos_line_id=line_id("M5"), on_promo=pl.lit(0, pl.Int8)).select(
        zone.POS_COLUMNS
    )


def _m5_catalogs(
    home: ProjectHome, wide: pl.DataFrame, prices: pl.DataFrame, window: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Products launch on their first active day over stores; stores open on their first."""
    check_categories(home, wide["cat_id"].str.to_lowercase().unique().to_list(), "M5 cat_id")
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
    check_landing(home, {zone.pos_file(home, d, s) for s, i in store_start for d in dates[i:]})
    files = pos_rows = 0
    for lo in range(0, len(d_cols), DAYS_PER_BLOCK):
        block = _m5_block(wide, d_cols[lo : lo + DAYS_PER_BLOCK], window, prices)
        files, pos_rows = files + publish_pos(home, block), pos_rows + block.height
    products, store_rows = _m5_catalogs(home, wide, prices, window)
    files += publish_catalogs(home, products, store_rows) + 1
    publish(events_file(home), _m5_events(calendar).write_csv)
    days_landed = len(dates) - first
    return ImportSummary(
        store_rows.height, products.height, days_landed, pos_rows, files, dates[first], dates[-1]
    )
