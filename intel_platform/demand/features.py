"""Demand features: one row per store x item x day, point-in-time safe, one definition for
training and serving.

Grain and invariants
- ``daily_demand`` turns harmonized sales lines into the store x item x day grain.
- ``build_features`` completes each series' date grid (first row to last row); a day without a
  POS row gets ``units`` null, never 0, so a missing day cannot pose as zero demand (DOMAIN.md,
  "the new category", "the weekend drop").
- No feature of day d reads ``units`` of day d or later; price, promo and is_open of day d are
  known in advance and may be used. The recursive forecaster calls the same function on history
  plus fed-back predictions, so training and serving share one definition.

Why it is written this way: 59 M rows (M5 shape) must fit in seconds on two cores, and
``.over()`` or joins on that many rows cost several times more than whole-column operations.
Series are contiguous and the grid is complete, so a day offset is a row offset; each series is
preceded by 28 empty padding rows, so whole-column rolling windows and short lags cannot reach
the previous series (only lag 364 needs a mask). Window sums run over integer-valued floats
(units, prices in mills), which is exact: a window gives the same number whatever history
precedes it, and that is what makes the tail-window recursion match training. Calendar and
encodings are gathers from small lookup arrays, not joins.
"""

__all__ = [
    "CALENDAR_FEATURES",
    "CATEGORICAL_FEATURES",
    "FEATURE_COLUMNS",
    "GRAIN",
    "LAGS",
    "MIN_HISTORY_DAYS",
    "PRICE_WINDOW",
    "TARGET",
    "WINDOWS",
    "build_features",
    "holiday_calendar",
]

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import dagster as dg
import duckdb
import holidays
import pandera.polars as pa
import polars as pl
from dagster_duckdb import DuckDBResource
from pandera.api.polars.types import PolarsData

from intel_platform.core.checks import CheckDefinition, CheckOutcome, contract_outcome
from intel_platform.core.metadata import table_metadata
from intel_platform.core.parquet_tables import parts_version, register_view, table_dir, write_parts
from intel_platform.core.resources import ProjectHomeResource
from intel_platform.core.warehouse import (
    read_table,
    table_name,
)

GRAIN = ("store_id", "item_id", "date")
TARGET = "units"
LAGS = (7, 14, 28, 364)
WINDOWS = (7, 28)
PRICE_WINDOW = 28
# A forecast origin needs this much history for every feature of day origin + 1 to be defined.
MIN_HISTORY_DAYS = max(LAGS) + max(WINDOWS)

CALENDAR_FEATURES = (
    "day_of_week",
    "week_of_year",
    "month",
    "day_of_month",
    "is_holiday",
    "days_to_next_holiday",
)
CATEGORICAL_FEATURES = ("store_code", "item_code", "category_code", "department_code")
FEATURE_COLUMNS = (
    *(f"units_lag_{k}" for k in LAGS),
    *(f"units_{stat}_{w}" for w in WINDOWS for stat in ("mean", "std")),
    "price_per_unit",
    f"price_change_{PRICE_WINDOW}",
    "promo",
    "is_open",
    *CALENDAR_FEATURES,
    "days_since_first_sale",
    *CATEGORICAL_FEATURES,
)

_PRICE_SCALE = 1000  # prices averaged as integer mills: exact, so history length cannot matter
# Empty days put before each series: a window of <= _PAD days can never reach the previous one.
_PAD = max(*WINDOWS, PRICE_WINDOW)
_D = pl.col("date").cast(pl.Int32)


@lru_cache(maxsize=16)  # a table is built in ~60 blocks over the same days: compute once
def holiday_calendar(start: date, end: date, country: str = "US") -> pl.DataFrame:
    """Calendar features for every day in [start, end], one row per day (a few thousand rows).

    Built once per call and gathered by day offset, so 59 M rows never hash a date. Holidays
    come from the ``holidays`` package and run one year past ``end``, so ``days_to_next_holiday``
    is defined up to the last day (0 on a holiday).
    """
    days = pl.date_range(start, end, eager=True).alias("date")
    known = holidays.country_holidays(country, years=range(start.year, end.year + 2))
    table = pl.DataFrame({"holiday": sorted(known)}, schema={"holiday": pl.Date})
    frame = days.to_frame().join_asof(
        table.with_columns(next_holiday=pl.col("holiday")),
        left_on="date",
        right_on="holiday",
        strategy="forward",
    )
    return frame.select(
        "date",
        day_of_week=pl.col("date").dt.weekday().cast(pl.Int8),
        week_of_year=pl.col("date").dt.week().cast(pl.Int8),
        month=pl.col("date").dt.month().cast(pl.Int8),
        day_of_month=pl.col("date").dt.day().cast(pl.Int8),
        is_holiday=(pl.col("next_holiday") == pl.col("date")).cast(pl.Int8),
        days_to_next_holiday=(pl.col("next_holiday") - pl.col("date"))
        .dt.total_days()
        .cast(pl.Int16),
    )


def build_features(
    daily: pl.LazyFrame,
    products: pl.LazyFrame | pl.DataFrame,
    *,
    stores: pl.LazyFrame | pl.DataFrame | None = None,
    holidays_country: str = "US",
) -> pl.LazyFrame:
    """Training and serving features at the store x item x day grain, on a complete date grid.

    ``daily`` must be ``daily_demand``'s contract: unique and sorted by (store_id, item_id,
    date); sorting 59 M rows would cost more than the features, so it is not redone here.
    ``units`` may be integer or float (the recursive forecaster feeds back predictions).
    Encodings are positions in the sorted catalog values (``products``; ``stores`` for stores,
    else the stores present in ``daily``), so codes are stable across calls on the same catalog;
    an id missing from the catalog gets a null code. Output: the grain, ``units`` (target,
    null on a missing day), then ``FEATURE_COLUMNS``.
    """
    calendar, day_index, store_ids = _context(daily, stores, holidays_country)
    features = _history_features(
        daily
    ).select(  # then the same-day features
        *GRAIN,
        TARGET,
        *FEATURE_COLUMNS[: FEATURE_COLUMNS.index("promo")],
        pl.col("promo").cast(pl.Int8),
        pl.col("is_open").cast(pl.Int8),
        *(pl.lit(calendar[c]).gather(day_index).alias(c) for c in CALENDAR_FEATURES),
        "days_since_first_sale",
        *_code_exprs(products.lazy().collect(), store_ids),
    )
    if calendar.is_empty():  # the streaming engine panics on an empty exploded frame
        return pl.LazyFrame(schema=features.collect_schema())
    return features


def _context(
    daily: pl.LazyFrame, stores: pl.LazyFrame | pl.DataFrame | None, country: str
) -> tuple[pl.DataFrame, pl.Expr, pl.Series]:
    """The small tables the row pass gathers from: calendar of the covered days (with the
    row-to-calendar index) and the store ids that define store codes. One cheap pre-pass."""
    store_ids = daily.select(pl.col("store_id").unique().cast(pl.String))
    if stores is not None:
        store_ids = stores.lazy().select(pl.col("store_id").cast(pl.String))
    bounds = daily.select(lo=pl.col("date").min(), hi=pl.col("date").max())
    lohi, store_frame = pl.collect_all([bounds, store_ids])
    lo, hi = lohi.row(0)
    if lo is None:  # no rows: an empty calendar tells the caller
        lo, hi = date(1970, 1, 2), date(1970, 1, 1)
    day_index = _D - (lo - date(1970, 1, 1)).days
    return holiday_calendar(lo, hi, country), day_index, store_frame["store_id"]


def _history_features(daily: pl.LazyFrame) -> pl.LazyFrame:
    """Features that read other days (lags, windows, price change, days since first sale),
    computed on the padded grid; the padding rows are dropped right after."""
    return (
        _padded_grid(daily)
        .with_columns(_cs_s=(pl.col(TARGET) > 0).fill_null(False).cast(pl.Int32).cum_sum())
        .with_columns(_first_sale=_first_sale_day())
        .select(
            *GRAIN,
            TARGET,
            *_lag_exprs(),
            *_window_exprs(),
            *_price_exprs(),
            "promo",
            "is_open",
            pl.when(_D > pl.col("_first_sale"))
            .then(_D - pl.col("_first_sale"))
            .cast(pl.Int16)
            .alias("days_since_first_sale"),
            "_sid",
            "_first",
            "_pad",
        )
        .filter(~pl.col("_pad"))
    )


def _padded_grid(daily: pl.LazyFrame) -> pl.LazyFrame:
    """Insert the missing days of each series and ``_PAD`` empty days before it, without a sort.

    Every row expands to the run of days since the previous row of its series (usually one;
    ``_PAD + 1`` for a series' first row); only the last day of a run is observed, inserted days
    get null units and covariates. ``_sid`` numbers the series (from 1), ``_first`` marks their
    first real day, ``_pad`` the rows dropped once the history features are computed.
    """
    new = (
        (pl.col("store_id") != pl.col("store_id").shift(1))
        | (pl.col("item_id") != pl.col("item_id").shift(1))
    ).fill_null(True)
    gap = pl.when(new).then(_PAD + 1).otherwise(_D - _D.shift(1))
    observed = pl.col("_back") == 0
    start = pl.col("_new") & (pl.col("_back") == _PAD)
    covariates = (TARGET, "price_per_unit", "promo", "is_open")
    return (
        daily.select(*GRAIN, *covariates)
        .with_columns(_new=new, _back=pl.int_ranges(gap - 1, -1, -1, dtype=pl.Int32))
        .explode("_back")
        .select(
            "store_id",
            "item_id",
            (_D - pl.col("_back")).cast(pl.Date).alias("date"),
            *(pl.when(observed).then(pl.col(c)).alias(c) for c in covariates),
            _sid=start.cast(pl.Int32).cum_sum(),
            _first=pl.col("_new") & observed,
            _pad=pl.col("_new") & ~observed,
        )
    )


def _past(column: str) -> pl.Expr:
    """Yesterday's value as Float64: rolling windows over it cover the days before today only.

    Units and prices in mills are integer-valued, so the windows' running sums are exact and a
    window gives the same number whatever history precedes it (training = tail-window serving).
    """
    return pl.col(column).cast(pl.Float64).shift(1)


def _lag_exprs() -> list[pl.Expr]:
    """Units k days back; null when the series is younger than k days or that day is missing.

    Lags within the padding land on empty rows by construction; longer ones are masked when
    the row k back belongs to another series."""
    out = []
    for k in LAGS:
        lag = pl.col(TARGET).shift(k)
        if k > _PAD:
            lag = pl.when(pl.col("_sid").shift(k) == pl.col("_sid")).then(lag)
        out.append(lag.cast(pl.Float32).alias(f"units_lag_{k}"))
    return out


def _window_exprs() -> list[pl.Expr]:
    """Mean (>= 1 observed day) and sample std (>= 2) of units over the past w days; missing
    days are skipped, not counted as zeros. Windows never exceed the padding, so they cannot
    reach the previous series.

    Each operand appears once per expression: the streaming engine does not deduplicate
    subexpressions, and a repeated window sum would be recomputed over every row."""
    units, squares = _past(TARGET), _past(TARGET).pow(2)
    observed = pl.col(TARGET).is_not_null().cast(pl.Float64).shift(1)
    out = []
    for w in WINDOWS:
        mean = units.rolling_mean(w, min_samples=1)
        mean_square = squares.rolling_mean(w, min_samples=2)  # null below 2 observed days
        bessel = 1 + 1 / (observed.rolling_sum(w) - 1)  # n / (n - 1)
        std = ((mean_square - mean.pow(2)).clip(lower_bound=0) * bessel).sqrt()
        out += [
            mean.cast(pl.Float32).alias(f"units_mean_{w}"),
            std.cast(pl.Float32).alias(f"units_std_{w}"),
        ]
    return out


def _price_exprs() -> list[pl.Expr]:
    """Today's price (known in advance) and its change vs the mean price of the past 28 days
    (null when none of them had a price). Prices are averaged as integer mills, exactly."""
    mills = (pl.col("price_per_unit").cast(pl.Float64) * _PRICE_SCALE).round()
    reference = mills.shift(1).rolling_mean(PRICE_WINDOW, min_samples=1)
    change = pl.col("price_per_unit").cast(pl.Float64) * _PRICE_SCALE / reference - 1
    return [
        pl.col("price_per_unit").cast(pl.Float32),
        change.cast(pl.Float32).alias(f"price_change_{PRICE_WINDOW}"),
    ]


def _first_sale_day() -> pl.Expr:
    """Day (as Int32) of each series' first sale, on every row of the series; null if none.

    The running count of sale days never decreases, so a series' first sale is the first row
    where it exceeds its level before the series: one binary search per series, not a group-by
    over every row. Features only compare it with today, so only a sale before today shows."""
    running = pl.col("_cs_s")
    before = running.shift(1).filter("_first")  # the count before the series (padding adds 0)
    at = running.search_sorted(before, side="right").clip(upper_bound=pl.len() - 1)
    own = (running.gather(at) > before) & (
        pl.col("_sid").gather(at) == pl.col("_sid").filter("_first")
    )
    return pl.when(own).then(_D.gather(at)).gather(pl.col("_sid") - 1)


def _code_exprs(products: pl.DataFrame, store_ids: pl.Series) -> list[pl.Expr]:
    """Integer codes = positions in the sorted catalog values (stable for a given catalog).

    Store and item are encoded once per series and gathered back by series number; category
    and department are looked up per item code in a small array. Nothing joins 59 M rows."""
    catalog = (
        products.select(pl.col("item_id", "category", "department").cast(pl.String))
        .filter(pl.col("item_id").is_not_null())
        .unique("item_id", keep="first", maintain_order=True)
        .sort("item_id")
    )
    per_series = pl.col("_sid") - 1
    store_enum, item_enum = _enum(store_ids), _enum(catalog["item_id"])
    store = pl.col("store_id").filter("_first").cast(pl.String).cast(store_enum, strict=False)
    item = pl.col("item_id").filter("_first").cast(pl.String).cast(item_enum, strict=False)
    item_code = item.to_physical().cast(pl.Int32).gather(per_series)
    by_item = catalog.select(
        pl.col(c).cast(_enum(catalog[c])).to_physical().cast(pl.Int16)
        for c in ("category", "department")
    )
    return [
        store.to_physical().cast(pl.Int16).gather(per_series).alias("store_code"),
        item_code.alias("item_code"),
        pl.lit(by_item["category"]).gather(item_code).alias("category_code"),
        pl.lit(by_item["department"]).gather(item_code).alias("department_code"),
    ]


def _enum(values: Iterable[str | None]) -> pl.Enum:
    """Enum of the sorted distinct non-null values: its physical codes are the encodings."""
    return pl.Enum(sorted({str(v) for v in values if v is not None}))


# --- Dagster layer: daily demand per partition, the feature table in Parquet parts -------------

DAILY_KEY = dg.AssetKey(["demand", "harmonized", "daily_demand"])  # built in harmonized.py
KEY = dg.AssetKey(["demand", "features", "store_item_day"])
_HARMONIZED = ["demand", "harmonized"]
_COVARIATES = ("units", "price_per_unit", "promo", "is_open")
# Rows per feature part (~120 parts at the M5 shape): build_features holds ~200 bytes a row at
# its peak, so the run stays near 0.5 GiB; a part always ends at a series boundary.
_ROWS_PER_PART = 500_000
# DuckDB keeps scanned blocks cached up to its memory limit (80 % of RAM by default); the
# per-store sort needs ~0.1 GiB, so the features run caps it and gives the memory to Polars.
_DUCKDB_MEMORY = "128MB"

CHECKS = [
    CheckDefinition(
        KEY,
        "features_contract",
        "Pandera: one row per store-item-day, units >= 0 or null (missing, never zero), "
        "calendar and store/item codes never null.",
        "A feature rule broke: read sample_rows, fix intel_platform/demand/features.py (with a "
        "test), re-materialize the features; training and forecasts wait meanwhile.",
    ),
]


def features_schema() -> pa.DataFrameSchema:
    """The feature table's contract: lags and windows may be null (young series), and a missing
    day has unknown units, price and promo; calendar and codes are always known. One row per
    store-item-day is checked as (store_code, item_code, date) strictly increasing within a
    part, which also pins the sort order readers rely on, in one pass instead of a hash."""
    never_null = [*CALENDAR_FEATURES, "store_code", "item_code", "date"]
    return pa.DataFrameSchema(
        {
            TARGET: pa.Column(nullable=True, checks=pa.Check.ge(0)),
            **{column: pa.Column(nullable=False) for column in never_null},
        },
        checks=[pa.Check(_grain_increases, name="one_row_per_store_item_day_in_grain_order")],
    )


def _grain_increases(data: PolarsData) -> pl.LazyFrame:
    """Per row: (store_code, item_code, date) is greater than the previous row's."""
    s, i, d = (pl.col(c) for c in ("store_code", "item_code", "date"))
    later = (s > s.shift(1)) | (
        (s == s.shift(1)) & ((i > i.shift(1)) | ((i == i.shift(1)) & (d > d.shift(1))))
    )
    return data.lazyframe.select((pl.int_range(pl.len()) == 0) | later.fill_null(False))


@dataclass
class _Tally:
    """What the run learns while the parts stream by: contract outcome, newest known day and
    the schema, so nothing re-reads the parts afterwards."""

    outcome: CheckOutcome = field(default_factory=CheckOutcome)
    data_as_of: date | None = None
    schema: Mapping[str, pl.DataType] = field(default_factory=dict)

    def observe(self, daily: pl.DataFrame) -> None:
        newest = daily.filter(pl.col(TARGET).is_not_null())["date"].max()
        if newest is not None and (self.data_as_of is None or newest > self.data_as_of):
            self.data_as_of = newest

    def check(self, part: pl.DataFrame) -> None:
        """Pandera on the part in memory, on the contract's columns only (ids as codes); on a
        failure it runs again with the ids, so sample_rows names the series."""
        schema = features_schema()
        columns = [TARGET, *schema.columns.keys() - {TARGET}]
        outcome = contract_outcome(schema, part.select(columns))
        if not outcome.passed:
            outcome = contract_outcome(schema, part.select("store_id", "item_id", *columns))
        self.outcome, self.schema = self.outcome.merge(outcome), part.schema


def _item_enum(conn: duckdb.DuckDBPyConnection) -> str:
    """A DuckDB ENUM of the stored item ids, sorted: read as ENUM, ids cross to Polars as
    dictionary codes (no per-row strings) and sort as integers in catalog order."""
    items = conn.execute(
        f"SELECT DISTINCT item_id FROM {table_name(DAILY_KEY)} WHERE item_id IS NOT NULL ORDER BY 1"
    )
    quoted = ", ".join("'" + item.replace("'", "''") + "'" for (item,) in items.fetchall())
    return f"ENUM({quoted})" if quoted else "VARCHAR"  # no rows: nothing to cast


def _store_blocks(
    conn: duckdb.DuckDBPyConnection, store: str, items: str, rows: int
) -> Iterator[pl.DataFrame]:
    """One store's daily demand sorted by item and date, in blocks of about ``rows`` rows that
    each end where a series ends. DuckDB filters and sorts; Arrow batches stream out, so only
    one block (plus the series it cut) is held here. A store without rows yields one empty
    block, so its part still carries the schema."""
    query = (
        f"SELECT CAST(item_id AS {items}) AS item_id, date, {', '.join(_COVARIATES)} "
        f"FROM {table_name(DAILY_KEY)} WHERE store_id = ? ORDER BY 1, 2"
    )
    reader = conn.execute(query, [store]).to_arrow_reader(rows)
    pending, blocks = [pl.DataFrame(pl.from_arrow(reader.schema.empty_table()))], 0
    for batch in reader:  # DuckDB may hand out smaller batches than asked for
        pending.append(pl.DataFrame(pl.from_arrow(batch)))
        if sum(frame.height for frame in pending) < rows:
            continue
        frame = pl.concat(pending)
        new_series = (pl.col("item_id") != pl.col("item_id").shift(1)).fill_null(True)
        cut = frame.select(pl.arg_where(new_series).max()).item()  # the last series' start
        if cut:
            yield _with_store(frame.slice(0, cut), store)
            blocks += 1
        pending = [frame.slice(cut)]
    rest = pl.concat(pending)
    if rest.height or not blocks:
        yield _with_store(rest, store)


def _with_store(block: pl.DataFrame, store: str) -> pl.DataFrame:
    """``daily_demand``'s layout: Categorical ids first (the store is one value per query)."""
    return block.select(
        pl.lit(store).cast(pl.Categorical).alias("store_id"),
        pl.col("item_id").cast(pl.Categorical),
        pl.exclude("item_id"),
    )


def _feature_parts(
    conn: duckdb.DuckDBPyConnection, products: pl.DataFrame, stores: pl.DataFrame, tally: _Tally
) -> Iterator[tuple[str, pl.DataFrame]]:
    """Feature parts store by store, a block of whole series at a time: a block is computed,
    checked and handed to the writer before the next one is read. Codes come from the whole
    catalog, so a block gets exactly the features the whole table would."""
    items = _item_enum(conn)
    with _memory_limit(conn, _DUCKDB_MEMORY):
        for store in sorted(stores["store_id"].to_list()):
            for k, block in enumerate(_store_blocks(conn, store, items, _ROWS_PER_PART)):
                tally.observe(block)
                part = build_features(block.lazy(), products, stores=stores)
                part = part.collect(engine="streaming")
                tally.check(part)
                yield f"{store}-{k:03d}", part


@contextmanager
def _memory_limit(conn: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    """DuckDB's memory limit while the parts are built, then the setting it had (it is per
    database, and the other assets of an in-process run share the database)."""
    (before,) = conn.execute("SELECT current_setting('memory_limit')").fetchone()
    conn.execute(f"SET memory_limit = '{limit}'")
    try:
        yield
    finally:
        conn.execute(f"SET memory_limit = '{before}'")


@dg.asset(
    key=KEY, group_name="demand_features", owners=["team:demand"], code_version="2",
    deps=[DAILY_KEY, *(dg.AssetKey([*_HARMONIZED, name]) for name in ("products", "stores"))],
    kinds={"polars", "parquet", "duckdb"}, check_specs=[c.spec for c in CHECKS],
)  # fmt: skip
def store_item_day(warehouse: DuckDBResource, project_home: ProjectHomeResource):
    """Training and scoring features per store x item x day (lags 7/14/28/364, past-only
    rolling mean/std 7/28, price change, promo, calendar and holidays, codes, days since first
    sale), from the daily demand table, built a block of series at a time so neither input nor
    table ever sits whole in memory (M5 shape: ~0.75 GiB peak, about half the time spent
    writing Parquet; scripts/bench_features_asset.py measures it)."""
    directory = table_dir(project_home.home, KEY)
    tally = _Tally()
    with warehouse.get_connection() as conn:
        products = read_table(conn, table_name([*_HARMONIZED, "products"]))
        stores = read_table(conn, table_name([*_HARMONIZED, "stores"]), ["store_id"])
        rows = write_parts(directory, _feature_parts(conn, products, stores, tally))
        register_view(conn, table_name(KEY), directory)
    yield dg.MaterializeResult(
        data_version=dg.DataVersion(parts_version(directory)),
        metadata={
            **table_metadata(rows, tally.schema),
            "data_as_of": str(tally.data_as_of),
            "path": dg.MetadataValue.path(str(directory)),
        },
    )
    yield CHECKS[0].result(tally.outcome)
