"""Prophet on aggregate demand series, split back to store x item for a like-for-like backtest.

Why aggregates: Prophet is one model per series and store x item series are too sparse and too
many for it, but a store (or store x category) total is smooth enough for its trend, weekly
seasonality, holidays and a promotion-share regressor. ``disaggregate`` then splits the total
by each item's recent share, so Prophet is scored at the same grain as LightGBM.

Fits run in worker processes (one per series, ``max_workers`` at a time) started by a
forkserver: forking the caller (threads of Polars, of LightGBM) is unsafe, and a forkserver
imports Prophet once per run, not once per pool. Each fit is bounded by ``timeout_s`` (passed to
Stan's optimizer, with a wall-clock backstop in the parent); a fit that fails or times out
becomes a seasonal-naive forecast of that series, and the ``method`` and ``reason`` columns say
so. Prophet is imported in the workers only.
"""

__all__ = [
    "INTERVAL_WIDTH",
    "disaggregate",
    "fit_prophet_aggregates",
    "holiday_frame",
    "prophet_forecaster",
]

import logging
import math
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import holidays as holiday_calendars
import numpy as np
import polars as pl
import polars.selectors as cs

from intel_platform.demand.features import TARGET
from intel_platform.demand.training import LEVELS, Forecaster

if TYPE_CHECKING:
    import pandas as pd
    from prophet import Prophet

INTERVAL_WIDTH = 0.8  # p10..p90
UNCERTAINTY_SAMPLES = 300  # Prophet's default is 1000; 300 draws keep p10/p90 stable enough
STARTUP_S = 60.0  # backstop allowance for a worker to start and import Prophet
PROMO_LOOKBACK_DAYS = 28


def _silence_prophet_logs() -> None:
    """Prophet logs an error when plotly is missing and cmdstanpy logs every Stan call; neither
    is actionable here, and a failed fit is reported in the ``reason`` column instead. Runs at
    import, so the forkserver (which preloads this module before Prophet) is quiet too."""
    logging.getLogger("prophet.plot").disabled = True
    logging.getLogger("cmdstanpy").disabled = True
    logging.getLogger("prophet").setLevel(logging.WARNING)


_silence_prophet_logs()


@dataclass(frozen=True)
class _Fit:
    """One series' work for a worker: history (ds, y, promo_share), future (ds, promo_share)."""

    history: "pd.DataFrame"
    future: "pd.DataFrame"
    holidays: "pd.DataFrame | None"
    timeout_s: float


def new_prophet(holidays: "pd.DataFrame | None") -> "Prophet":
    """The one Prophet specification: weekly seasonality, holidays, promotion share regressor,
    80 % interval (p10..p90); the backtest and the registered model both use it."""
    _silence_prophet_logs()
    from prophet import Prophet

    model = Prophet(
        interval_width=INTERVAL_WIDTH,
        holidays=holidays,
        weekly_seasonality=True,
        daily_seasonality=False,
        uncertainty_samples=UNCERTAINTY_SAMPLES,
    )
    model.add_regressor("promo_share")
    return model


def _fit_one(task: _Fit) -> np.ndarray:
    """Worker: fit Prophet on one series and return (yhat_lower, yhat, yhat_upper) rows."""
    np.random.seed(0)  # Prophet draws its intervals from the global RNG; this is a worker's own
    model = new_prophet(task.holidays)
    model.fit(task.history, timeout=task.timeout_s)
    out = model.predict(task.future)
    return np.vstack([out["yhat_lower"], out["yhat"], out["yhat_upper"]]).astype(np.float64)


def holiday_frame(start: date, end: date, country: str = "US") -> pl.DataFrame:
    """Prophet's holidays frame (holiday, ds) for [start, end] from the ``holidays`` package."""
    known = holiday_calendars.country_holidays(country, years=range(start.year, end.year + 1))
    rows = sorted((day, name) for day, name in known.items() if start <= day <= end)
    return pl.DataFrame(rows, schema={"ds": pl.Date, "holiday": pl.String}, orient="row")


def fit_prophet_aggregates(
    daily: pl.DataFrame,
    *,
    level: list[str],
    horizon: int,
    holidays: pl.DataFrame | None = None,
    max_workers: int = 2,
    timeout_s: float = 60.0,
    future: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One Prophet per ``level`` series of summed units, forecast origin + 1 .. origin + horizon.

    ``daily`` is store x item x day demand up to the origin (its last date) carrying the
    ``level`` columns and ``promo``; a day whose units are all null is missing, not zero.
    Promotion share (mean of ``promo``) is an extra regressor; its future values come from
    ``future`` (covariates of the horizon) where given, else the series' mean of the last
    ``PROMO_LOOKBACK_DAYS``. ``holidays``: Prophet's frame (holiday, ds or date[, lower_window,
    upper_window]), e.g. ``holiday_frame``.

    Output: level columns, date, p10, p50, p90 (Prophet's 80 % interval, clipped at 0; null
    band for a fallback), method (``prophet`` | ``seasonal_naive``), reason (why it fell back).
    """
    if daily.is_empty():
        raise ValueError("no history to fit Prophet on")
    origin = daily["date"].max()
    series = _aggregate(_plain_levels(daily, level), level)
    future = None if future is None else _plain_levels(future, level)
    ahead = _future_promo_share(series, future, level, origin, horizon)
    hol = None
    if holidays is not None and not holidays.is_empty():
        hol = _pandas(holidays, "ds" if "ds" in holidays.columns else "date")
    tasks = {
        key: _Fit(
            _pandas(frame.select("date", "y", "promo_share"), "date"),
            _pandas(ahead_frame.select("date", "promo_share"), "date"),
            hol,
            timeout_s,
        )
        for (key, frame), ahead_frame in _paired(series, ahead, level)
    }
    results = _run_fits(tasks, max_workers, timeout_s)
    frames = [
        _series_forecast(frame, ahead_frame.select(*level, "date"), results[key])
        for (key, frame), ahead_frame in _paired(series, ahead, level)
    ]
    return pl.concat(frames).sort(*level, "date")


def _plain_levels(frame: pl.DataFrame, level: list[str]) -> pl.DataFrame:
    """Categorical or Enum level columns as strings, so frames from different sources join."""
    return frame.with_columns((cs.by_name(*level) & (cs.categorical() | cs.enum())).cast(pl.String))


def _aggregate(daily: pl.DataFrame, level: list[str]) -> pl.DataFrame:
    """Summed units (null when no unit of the day is known) and promotion share per series."""
    units = pl.col(TARGET).cast(pl.Float64)
    return (
        daily.group_by(*level, "date")
        .agg(
            y=pl.when(units.is_not_null().any()).then(units.sum()),
            promo_share=pl.col("promo").cast(pl.Float64).mean().fill_null(0.0),
        )
        .sort(*level, "date")
    )


def _future_promo_share(
    series: pl.DataFrame,
    future: pl.DataFrame | None,
    level: list[str],
    origin: date,
    horizon: int,
) -> pl.DataFrame:
    """Every series x horizon day with its promotion share: from ``future`` where known, else
    the series' recent mean (a promotion calendar is usually known; if not, assume as usual)."""
    days = pl.date_range(origin + timedelta(days=1), origin + timedelta(days=horizon), eager=True)
    recent = series.filter(pl.col("date") > origin - timedelta(days=PROMO_LOOKBACK_DAYS))
    usual = recent.group_by(level).agg(_usual=pl.col("promo_share").mean())
    grid = series.select(level).unique().join(days.alias("date").to_frame(), how="cross")
    if future is not None and not future.is_empty():
        planned = _aggregate(future.with_columns(pl.lit(None, pl.Float64).alias(TARGET)), level)
        grid = grid.join(planned.drop("y"), on=[*level, "date"], how="left")
    else:
        grid = grid.with_columns(promo_share=pl.lit(None, pl.Float64))
    grid = grid.join(usual, on=level, how="left", nulls_equal=True)
    share = pl.coalesce("promo_share", "_usual", pl.lit(0.0))
    return grid.with_columns(promo_share=share).drop("_usual").sort(*level, "date")


def _paired(
    series: pl.DataFrame, ahead: pl.DataFrame, level: list[str]
) -> list[tuple[tuple[tuple[Any, ...], pl.DataFrame], pl.DataFrame]]:
    """(key, history of the series) with the series' horizon rows, in key order."""
    history = series.partition_by(level, as_dict=True, maintain_order=True)
    future = ahead.partition_by(level, as_dict=True, maintain_order=True)
    return [((key, frame), future[key]) for key, frame in history.items()]


def _pandas(frame: pl.DataFrame, date_column: str) -> "pd.DataFrame":
    """Prophet's input: the date column as ``ds`` (datetime64), the rest unchanged."""
    frame = frame.rename({date_column: "ds"}).with_columns(pl.col("ds").cast(pl.Datetime("ns")))
    return frame.to_pandas()


def _run_fits(
    tasks: dict[tuple[Any, ...], _Fit], max_workers: int, timeout_s: float
) -> dict[tuple[Any, ...], np.ndarray | str]:
    """Fit every series in a process pool; per key the (3, horizon) array or why it failed.

    Stan's own timeout bounds each fit; the wall-clock backstop covers a worker that hangs
    elsewhere (queued fits run ``max_workers`` at a time, hence the rounds)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__, "prophet"])
    workers = max(1, min(max_workers, len(tasks)))
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    budget = STARTUP_S + timeout_s * math.ceil(len(tasks) / workers)
    results: dict[tuple[Any, ...], np.ndarray | str] = {}
    pending: set[Future] = set()
    try:
        futures: dict[Future, tuple[Any, ...]] = {
            executor.submit(_fit_one, task): key for key, task in tasks.items()
        }
        done, pending = wait(futures, timeout=budget)
        for future, key in futures.items():
            results[key] = _outcome(future) if future in done else f"timed out after {budget} s"
        if pending:
            _kill_workers(executor)
    finally:
        executor.shutdown(wait=not pending, cancel_futures=True)
    return results


def _outcome(future: Future) -> np.ndarray | str:
    """The fit's array, or its exception as one line (the fallback's ``reason``)."""
    error = future.exception()
    if error is not None:
        return f"{type(error).__name__}: {error}"[:300]
    return future.result()


def _kill_workers(executor: ProcessPoolExecutor) -> None:
    """Stop workers still running a fit past the backstop (public API from Python 3.14)."""
    kill = getattr(executor, "kill_workers", None)
    if kill is not None:
        kill()
        return
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        process.kill()


def _series_forecast(
    history: pl.DataFrame, ahead: pl.DataFrame, result: np.ndarray | str
) -> pl.DataFrame:
    """The series' horizon rows with Prophet's levels, or the seasonal-naive fallback."""
    if isinstance(result, np.ndarray):
        levels = np.clip(np.sort(result, axis=0), 0.0, None)
        return ahead.with_columns(
            *(pl.Series(name, values) for name, values in zip(LEVELS, levels, strict=True)),
            method=pl.lit("prophet"),
            reason=pl.lit(None, pl.String),
        )
    return ahead.with_columns(
        p10=pl.lit(None, pl.Float64),
        p50=_naive_values(history, ahead["date"]),
        p90=pl.lit(None, pl.Float64),
        method=pl.lit("seasonal_naive"),
        reason=pl.lit(result),
    )


def _naive_values(history: pl.DataFrame, dates: pl.Series) -> pl.Series:
    """Seasonal naive of one aggregate series: the last observed value on the same weekday,
    else the mean of the last four weeks' observed days (null only for a series never seen)."""
    observed = history.filter(pl.col("y").is_not_null())
    last = observed.group_by(weekday=pl.col("date").dt.weekday()).agg(pl.col("y").last())
    recent = observed.filter(pl.col("date") > observed["date"].max() - timedelta(days=28))
    grid = dates.to_frame("date").with_columns(weekday=pl.col("date").dt.weekday())
    joined = grid.join(last, on="weekday", how="left", maintain_order="left")
    return joined["y"].fill_null(recent["y"].mean()).clip(lower_bound=0.0).alias("p50")


def disaggregate(
    aggregate_forecast: pl.DataFrame,
    history: pl.DataFrame,
    level: list[str],
    lookback_days: int = 28,
) -> pl.DataFrame:
    """Split each aggregate forecast to store x item by the item's share of the level's units
    over the last ``lookback_days`` (equal shares where the level sold nothing).

    ``history`` is store x item x day demand carrying the ``level`` columns. Each level is
    scaled alike (proportional disaggregation): p10/p90 of a sum times a share only
    approximate the item's band. Series with no known units in the lookback get no rows; the
    cold-start fallback covers them. Output: store_id, item_id, date, p10, p50, p90, and
    ``method``/``reason`` when the aggregate carries them, sorted by the grain."""
    origin = history["date"].max()
    history, aggregate_forecast = (
        _plain_levels(history, level),
        _plain_levels(aggregate_forecast, level),
    )
    keys = list(dict.fromkeys([*level, "store_id", "item_id"]))
    units = pl.col(TARGET).cast(pl.Float64)
    recent = history.filter(
        (pl.col("date") > origin - timedelta(days=lookback_days)) & units.is_not_null()
    )
    items = recent.group_by(keys).agg(_units=units.sum())
    total, count = pl.col("_units").sum().over(level), pl.len().over(level)
    shares = items.with_columns(
        _share=pl.when(total > 0).then(pl.col("_units") / total).otherwise(1.0 / count)
    )
    extra = [c for c in ("method", "reason") if c in aggregate_forecast.columns]
    out = aggregate_forecast.join(shares, on=level, how="inner").with_columns(
        pl.col(LEVELS) * pl.col("_share")
    )
    ids = pl.col("store_id", "item_id").cast(pl.String)
    return out.select(ids, "date", *LEVELS, *extra).sort("store_id", "item_id", "date")


def prophet_forecaster(
    level: list[str],
    *,
    max_workers: int = 2,
    timeout_s: float = 60.0,
    holidays_country: str = "US",
    lookback_days: int = 28,
) -> Forecaster:
    """Prophet per ``level`` aggregate (columns of daily demand or of the catalog, e.g.
    ``["store_id", "category"]``), disaggregated to store x item: a backtest ``Forecaster``."""

    def forecast(
        history: pl.DataFrame, future: pl.DataFrame, products: pl.DataFrame, horizon: int
    ) -> pl.DataFrame:
        history, future = (
            _with_level(history, products, level),
            _with_level(future, products, level),
        )
        start, origin = history["date"].min(), history["date"].max()
        aggregate = fit_prophet_aggregates(
            history,
            level=level,
            horizon=horizon,
            holidays=holiday_frame(start, origin + timedelta(days=horizon), holidays_country),
            max_workers=max_workers,
            timeout_s=timeout_s,
            future=future,
        )
        return disaggregate(aggregate, history, level, lookback_days)

    return forecast


def _with_level(frame: pl.DataFrame, products: pl.DataFrame, level: list[str]) -> pl.DataFrame:
    """Add the catalog columns ``level`` needs (e.g. category) to store x item x day rows."""
    missing = [c for c in level if c not in frame.columns]
    if not missing:
        return frame
    catalog = products.select(pl.col("item_id", *missing).cast(pl.String)).unique("item_id")
    return frame.with_columns(pl.col("item_id").cast(pl.String)).join(
        catalog, on="item_id", how="left"
    )


def fit_series_models(
    daily: pl.DataFrame, *, level: list[str], holidays: pl.DataFrame | None = None
) -> dict[tuple, "Prophet"]:
    """The production Prophet per ``level`` series on all of ``daily`` (for the registry): the
    same specification and aggregation as the backtest, fitted in this process."""
    series = _aggregate(_plain_levels(daily, level), level)
    hol = None if holidays is None or holidays.is_empty() else _pandas(holidays, "ds")
    models = {}
    for key, frame in series.group_by(level, maintain_order=True):
        model = new_prophet(hol)
        model.fit(_pandas(frame.select("date", "y", "promo_share"), "date"))
        models[tuple(key)] = model
    return models
