"""Recursive multi-step forecasting, the seasonal-naive baseline and rolling-origin backtests.

Why recursive: lags 7 and 14 are shorter than the 28-day horizon, so day T + h needs units of
days after the origin T. They are the model's own p50 predictions, fed back one day at a time,
and every step recomputes features with the same ``build_features`` that made the training set:
a feature is defined once, for training and serving alike (train/serve skew is "the late store"
in DOMAIN.md). The model is injected as a callable, so this module imports no ML library.

Grain: one row per store x item x forecast day. Nothing here reads a clock: the origin is the
last day of ``history``.
"""

__all__ = [
    "COVARIATES",
    "HORIZON",
    "IDS",
    "TAIL_DAYS",
    "Predict",
    "backtest_origins",
    "recursive_forecast",
    "seasonal_naive",
    "split_at_origin",
    "string_ids",
]

import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import TypeVar

import numpy as np
import polars as pl

from intel_platform.demand.features import (
    GRAIN,
    MIN_HISTORY_DAYS,
    TARGET,
    build_features,
    catalog_codes,
    first_sales,
)

HORIZON = 28
# History kept per step: lag 364 and the 28-day windows of day origin + 1 are all inside it.
TAIL_DAYS = MIN_HISTORY_DAYS
COVARIATES = ["price_per_unit", "promo", "is_open"]
IDS = ["store_id", "item_id"]

Predict = Callable[[pl.DataFrame], dict[str, np.ndarray] | np.ndarray]
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)
_ROWS = pl.Schema(
    {
        "store_id": pl.String,
        "item_id": pl.String,
        "date": pl.Date,
        TARGET: pl.Float64,
        "price_per_unit": pl.Float32,
        "promo": pl.Boolean,
        "is_open": pl.Boolean,
    }
)
_QUANTILE = re.compile(r"^p(\d{1,2})$")


def backtest_origins(last_date: date, *, windows: int = 3, horizon: int = HORIZON) -> list[date]:
    """Rolling origins, oldest first; the last window ends on ``last_date``. Windows do not
    overlap, so every model is compared on the same ``windows * horizon`` days."""
    return [last_date - timedelta(days=horizon * k) for k in range(windows, 0, -1)]


def split_at_origin(daily: Frame, origin: date, horizon: int = HORIZON) -> tuple[Frame, Frame]:
    """(history: date <= origin, actuals: origin < date <= origin + horizon).

    The only place a backtest cuts time: whatever is fitted or forecast from the history cannot
    see an actual after the origin."""
    end = origin + timedelta(days=horizon)
    return (
        daily.filter(pl.col("date") <= origin),
        daily.filter((pl.col("date") > origin) & (pl.col("date") <= end)),
    )


def seasonal_naive(history: pl.DataFrame, horizon: int = HORIZON) -> pl.DataFrame:
    """Baseline every model must beat: day T + h gets the actual of the same weekday in the last
    observed week, i.e. the latest non-null units on that weekday up to the origin T.

    Output: store_id, item_id, date, horizon, p50, sorted by the grain; a series never observed
    on a weekday gets null there (missing is not zero).
    """
    origin = history["date"].max()
    weekday = pl.col("date").dt.weekday()
    last_seen = (  # latest observed value per series and weekday, without sorting history
        history.filter(pl.col(TARGET).is_not_null())
        .group_by(*IDS, weekday.alias("_weekday"))
        .agg(pl.col(TARGET).get(pl.col("date").arg_max()).cast(pl.Float64).alias("p50"))
    )
    days = pl.DataFrame({"horizon": pl.int_range(1, horizon + 1, eager=True, dtype=pl.Int16)})
    grid = (
        history.select(IDS)
        .unique()
        .join(days, how="cross")
        .with_columns(date=pl.lit(origin) + pl.duration(days=pl.col("horizon")))
        .with_columns(_weekday=weekday)
    )
    out = grid.join(last_seen, on=[*IDS, "_weekday"], how="left")
    return out.select(*GRAIN, "horizon", "p50").sort(GRAIN)


def string_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """Ids as plain strings, so Categorical (daily_demand) and String frames join."""
    return frame.with_columns(pl.col(IDS).cast(pl.String))


def recursive_forecast(
    history: pl.DataFrame,
    future: pl.DataFrame,
    products: pl.DataFrame,
    predict: Predict,
    horizon: int = HORIZON,
    *,
    codes: pl.DataFrame | None = None,
    holidays_country: str = "US",
) -> pl.DataFrame:
    """Forecast origin + 1 .. origin + horizon, one day at a time, feeding p50 back as units.

    ``history`` is daily demand up to the origin (its last date); ``future`` holds the known-in-
    advance covariates (grain + price_per_unit, promo, is_open) of the series and days to
    forecast; any units it carries are ignored. Each step builds features on the last
    ``TAIL_DAYS`` of history plus the forecast days so far (bounded work per step); the only
    feature that needs more, days since first sale, is taken from the full history. Closed days
    (is_open false) are forecast as 0. ``codes`` is the codebook the model was trained with
    (default: a fresh one of ``products`` and the stores in ``history``, as training on the
    same daily table gets).

    Output: store_id, item_id, date, horizon, p50 (plus p10/p90 or other pNN if ``predict``
    returns them, sorted across levels and clipped at 0), sorted by the grain.
    """
    origin = history["date"].max()
    if codes is None:
        codes = catalog_codes(products, history["store_id"].unique().cast(pl.String))
    rows = _forecast_rows(history, future, origin, horizon)
    units = rows[TARGET].to_numpy(writable=True)
    days = rows["date"].to_numpy()
    sold = first_sales(history)
    steps = []
    for h in range(1, horizon + 1):
        day = origin + timedelta(days=h)
        known = rows.with_columns(pl.Series(TARGET, units, nan_to_null=True))
        features = build_features(
            known.lazy().filter(pl.col("date") <= day),
            products,
            codes=codes,
            holidays_country=holidays_country,
            first_sales=sold,
        )
        step = features.filter(pl.col("date") == day).collect()
        quantiles = _quantiles(predict(step), step)
        today = days == np.datetime64(day)
        if today.sum() != step.height:  # the grid never adds a row on the last day
            raise RuntimeError(f"{step.height} feature rows for {today.sum()} rows on {day}")
        units[today] = quantiles["p50"]
        steps.append(step.select(*GRAIN).with_columns(horizon=pl.lit(h, pl.Int16), **quantiles))
    if not steps:
        return pl.DataFrame(schema={**history.select(GRAIN).schema, "horizon": pl.Int16})
    return pl.concat(steps).sort(GRAIN)


def _forecast_rows(
    history: pl.DataFrame, future: pl.DataFrame, origin: date, horizon: int
) -> pl.DataFrame:
    """The tail of history plus the future rows (units null), sorted by grain once: each step
    then only filters by date, which keeps the series contiguous as build_features needs.
    Units are Float64 because fed-back predictions are fractional; ids are plain strings."""
    end = origin + timedelta(days=horizon)
    ahead = future.filter((pl.col("date") > origin) & (pl.col("date") <= end)).with_columns(
        pl.lit(None, pl.Float64).alias(TARGET)
    )
    ahead = ahead.select(_ROWS.names()).cast(_ROWS)
    tail = history.filter(pl.col("date") > origin - timedelta(days=TAIL_DAYS))
    tail = tail.select(_ROWS.names()).cast(_ROWS).join(ahead.select(IDS), on=IDS, how="semi")
    return pl.concat([tail, ahead]).sort(GRAIN)


def _quantiles(
    predicted: dict[str, np.ndarray] | np.ndarray, step: pl.DataFrame
) -> dict[str, np.ndarray]:
    """Normalise ``predict``'s output to {pNN: array}: levels sorted so p10 <= p50 <= p90 row by
    row, clipped at 0, and 0 on closed days (nothing can sell in a closed store)."""
    if not isinstance(predicted, dict):
        predicted = {"p50": predicted}
    if "p50" not in predicted or not all(_QUANTILE.match(k) for k in predicted):
        raise ValueError(f"predict must return an array or pNN arrays with p50: {list(predicted)}")
    names = sorted(predicted, key=lambda k: int(k[1:]))
    stacked = np.vstack([np.asarray(predicted[k], dtype=np.float64) for k in names])
    if stacked.shape[1] != step.height:
        raise ValueError(f"predict returned {stacked.shape[1]} rows for {step.height}")
    closed = (step["is_open"] == 0).fill_null(False).to_numpy()
    stacked = np.clip(np.sort(stacked, axis=0), 0, None)
    stacked[:, closed] = 0.0
    return dict(zip(names, stacked, strict=True))
