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
    "first_sales",
    "holiday_calendar",
]

from datetime import date
from functools import lru_cache

import holidays
import polars as pl

from intel_platform.demand.features.codes import catalog_codes, catalog_items, field_enum

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
    codes: pl.DataFrame | None = None,
    holidays_country: str = "US",
    first_sales: pl.DataFrame | None = None,
) -> pl.LazyFrame:
    """Training and serving features at the store x item x day grain, on a complete date grid.

    ``daily`` must be ``daily_demand``'s contract: unique and sorted by (store_id, item_id,
    date); sorting 59 M rows would cost more than the features, so it is not redone here.
    ``units`` may be integer or float (the recursive forecaster feeds back predictions).
    Encodings come from ``codes`` (``codes.catalog_codes``: the feature table's codebook, so
    the codes a model was trained on); without it, from a fresh codebook of ``products`` and
    the stores in ``daily``. A value missing from the codebook gets a null code.
    ``first_sales`` (``first_sales()`` of history that ``daily`` may not reach back to) wins
    over the first sale ``daily`` shows, so a window of history gets the whole history's days
    since first sale. Output: the grain, ``units`` (target, null on a missing day), then
    ``FEATURE_COLUMNS``.
    """
    calendar, day_index, store_ids = _context(daily, holidays_country, stores=codes is None)
    products = products.lazy().collect()
    codes = catalog_codes(products, store_ids) if codes is None else codes
    features = _history_features(
        daily, first_sales
    ).select(  # then the same-day features
        *GRAIN,
        TARGET,
        *FEATURE_COLUMNS[: FEATURE_COLUMNS.index("promo")],
        pl.col("promo").cast(pl.Int8),
        pl.col("is_open").cast(pl.Int8),
        *(pl.lit(calendar[c]).gather(day_index).alias(c) for c in CALENDAR_FEATURES),
        "days_since_first_sale",
        *_code_exprs(codes, products),
    )
    if calendar.is_empty():  # the streaming engine panics on an empty exploded frame
        return pl.LazyFrame(schema=features.collect_schema())
    return features


def _context(
    daily: pl.LazyFrame, country: str, *, stores: bool
) -> tuple[pl.DataFrame, pl.Expr, pl.Series | None]:
    """The small tables the row pass gathers from: calendar of the covered days (with the
    row-to-calendar index) and, when ``stores``, the store ids present (a fresh codebook's
    stores; a given codebook needs none, so blocks and forecast steps skip that scan). One
    cheap pre-pass."""
    queries = [daily.select(lo=pl.col("date").min(), hi=pl.col("date").max())]
    if stores:
        queries.append(daily.select(pl.col("store_id").unique().cast(pl.String)))
    lohi, *store_frame = pl.collect_all(queries)
    lo, hi = lohi.row(0)
    if lo is None:  # no rows: an empty calendar tells the caller
        lo, hi = date(1970, 1, 2), date(1970, 1, 1)
    day_index = _D - (lo - date(1970, 1, 1)).days
    store_ids = store_frame[0]["store_id"] if store_frame else None
    return holiday_calendar(lo, hi, country), day_index, store_ids


def first_sales(daily: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """First day with units > 0 per (store_id, item_id), ids as strings: what ``build_features``
    needs from history older than the rows it is given."""
    sold = daily.lazy().filter(pl.col(TARGET) > 0)
    return (
        sold.group_by(pl.col("store_id", "item_id").cast(pl.String))
        .agg(first_sale=pl.col("date").min())
        .collect()
    )


def _history_features(daily: pl.LazyFrame, earlier: pl.DataFrame | None) -> pl.LazyFrame:
    """Features that read other days (lags, windows, price change, days since first sale),
    computed on the padded grid; the padding rows are dropped right after."""
    first_sale = _first_sale_day()
    if earlier is not None and earlier.height:
        first_sale = pl.coalesce(_known_first_sale(earlier), first_sale)
    return (
        _padded_grid(daily)
        .with_columns(_cs_s=(pl.col(TARGET) > 0).fill_null(False).cast(pl.Int32).cum_sum())
        .with_columns(_first_sale=first_sale)
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


def _known_first_sale(first_sales: pl.DataFrame) -> pl.Expr:
    """Day (as Int32) of each series' first sale in ``first_sales``, on every row of the series;
    null for a series it does not list. Looked up once per series, then gathered by series."""
    key = pl.concat_str(
        pl.col("store_id").filter("_first").cast(pl.String),
        pl.col("item_id").filter("_first").cast(pl.String),
        separator="\x1f",
    )
    known = first_sales.select(
        key=pl.concat_str(pl.col("store_id", "item_id").cast(pl.String), separator="\x1f"),
        day=pl.col("first_sale").cast(pl.Int32),
    )
    day = key.replace_strict(known["key"], known["day"], default=None, return_dtype=pl.Int32)
    return day.gather(pl.col("_sid") - 1)


def _code_exprs(codes: pl.DataFrame, products: pl.DataFrame) -> list[pl.Expr]:
    """Store, item, category and department codes from the codebook.

    Store and item are encoded once per series and gathered back by series number; category
    and department are looked up per item code in a small array (the item's values in the
    current catalog). Nothing joins 59 M rows."""
    catalog = catalog_items(products)
    per_series = pl.col("_sid") - 1
    store_enum, item_enum = field_enum(codes, "store_id"), field_enum(codes, "item_id")
    store = pl.col("store_id").filter("_first").cast(pl.String).cast(store_enum, strict=False)
    item = pl.col("item_id").filter("_first").cast(pl.String).cast(item_enum, strict=False)
    item_code = item.to_physical().cast(pl.Int32).gather(per_series)
    by_item = (
        pl.DataFrame({"item_id": item_enum.categories})
        .join(catalog, on="item_id", how="left", maintain_order="left")
        .select(
            pl.col(c).cast(field_enum(codes, c), strict=False).to_physical().cast(pl.Int16)
            for c in ("category", "department")
        )
    )
    return [
        store.to_physical().cast(pl.Int16).gather(per_series).alias("store_code"),
        item_code.alias("item_code"),
        pl.lit(by_item["category"]).gather(item_code).alias("category_code"),
        pl.lit(by_item["department"]).gather(item_code).alias("department_code"),
    ]
