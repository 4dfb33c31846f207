"""Pure monitoring computations behind ``demand/monitoring/*``: feature drift (PSI) and the
accuracy of issued forecasts against the actuals that have landed since. Frames in, frames out;
no I/O and no clock, so every number here can be checked by hand on a few rows. PSI per
feature and the drift verdict are product-agnostic and live in ``core.drift``.

Thresholds follow DOMAIN.md: PSI > 0.2 warn, > 0.3 retrain; WAPE more than 10 % above the
champion's backtest WAPE is decay; |bias| beyond 5 % is a biased model. The assets pass them in
from run config.
"""

__all__ = [
    "ACCURACY_SCOPES",
    "MONITORED_FEATURES",
    "accuracy_decision",
    "accuracy_vs_actuals",
    "drift_decision",
    "feature_drift",
    "horizon_bucket",
    "sample_rows",
]

from collections.abc import Sequence

import polars as pl

from intel_platform.core import drift as core_drift
from intel_platform.core.drift import drift_decision
from intel_platform.core.metrics import forecast_metrics
from intel_platform.demand.features import CALENDAR_FEATURES, CATEGORICAL_FEATURES, FEATURE_COLUMNS

# Calendar features and the series' age move with the clock by construction: 28 recent days
# never look like a year of training days in month or week-of-year, and days_since_first_sale
# only grows. That is the seasonality the model was trained on, not a changed world, so they
# are not watched (day_of_week is: four full weeks must look like any other four weeks).
_CLOCK_FEATURES = {*CALENDAR_FEATURES, "days_since_first_sale"} - {"day_of_week"}
MONITORED_FEATURES = tuple(c for c in FEATURE_COLUMNS if c not in _CLOCK_FEATURES)
ACCURACY_SCOPES = ("overall", "model_version", "horizon", "category")
_SERIES = ["store_id", "item_id", "date"]
_METRICS = ["n", "wape", "mape", "rmse", "bias"]


def sample_rows(frame: pl.LazyFrame, rows: int, max_rows: int, *, seed: int) -> pl.LazyFrame:
    """A seeded, lazy Bernoulli sample of about ``max_rows`` of ``rows`` rows, keyed on the
    grain's hash: the same rows are drawn on every run (reproducible PSI), and the filter runs
    inside the scan, so a year of an M5-size feature table is never held whole in memory."""
    if rows <= max_rows:
        return frame
    key = pl.struct(pl.col("store_id", "item_id").cast(pl.String), "date").hash(seed)
    threshold = int(max_rows / rows * (2**64 - 1))
    return frame.filter(key < pl.lit(threshold, dtype=pl.UInt64))


def feature_drift(
    reference: pl.DataFrame,
    recent: pl.DataFrame,
    features: Sequence[str],
    *,
    warn: float = 0.2,
    retrain: float = 0.3,
    bins: int = 10,
    categorical: Sequence[str] = CATEGORICAL_FEATURES,
) -> pl.DataFrame:
    """``core.drift.feature_drift`` with demand's integer codes (store, item, category,
    department) compared as categories."""
    return core_drift.feature_drift(
        reference, recent, features, warn=warn, retrain=retrain, bins=bins,
        categorical=categorical,
    )  # fmt: skip


def horizon_bucket(horizon: pl.Expr) -> pl.Expr:
    """Days ahead in the buckets planners think in: this week, next week, the rest."""
    return (
        pl.when(horizon <= 7)
        .then(pl.lit("1-7"))
        .when(horizon <= 14)
        .then(pl.lit("8-14"))
        .when(horizon <= 28)
        .then(pl.lit("15-28"))
        .otherwise(pl.lit("29+"))
    )


def _matured(forecasts: pl.DataFrame, actuals: pl.DataFrame) -> pl.DataFrame:
    """Forecast rows whose day has come (date <= the newest known actual), with the actual
    joined on; a missing day keeps a null actual, which every metric leaves out (unknown
    demand is not zero demand)."""
    newest = actuals.filter(pl.col("units").is_not_null())["date"].max()
    ids = pl.col("store_id", "item_id").cast(pl.String)
    truth = actuals.select(ids, "date", actual=pl.col("units").cast(pl.Float64))
    due = forecasts.with_columns(ids).filter(pl.col("date") <= newest)
    return due.join(truth, on=_SERIES, how="left")


def accuracy_vs_actuals(
    forecasts: pl.DataFrame,
    actuals: pl.DataFrame,
    *,
    backtest_wape: float | None,
    categories: pl.DataFrame | None = None,
    wape_tolerance: float = 0.10,
    max_abs_bias: float = 0.05,
) -> pl.DataFrame:
    """WAPE, MAPE, RMSE and bias of the archived p50 against the actuals, for every scope:
    ``overall``, per ``model_version``, per ``horizon`` bucket and (given ``categories``:
    item_id, category) per ``category``. Each row is compared with the champion's backtest
    WAPE: ``decay`` when WAPE > (1 + wape_tolerance) x backtest, ``biased`` when |bias| >
    max_abs_bias. ``forecasts``: store_id, item_id, date, horizon, p50, model_version;
    ``actuals``: store_id, item_id, date, units (null = missing day)."""
    scored = _matured(forecasts, actuals).with_columns(
        pl.col("model_version").cast(pl.String), bucket=horizon_bucket(pl.col("horizon"))
    )
    groups: list[tuple[str, str | None]] = [
        ("overall", None), ("model_version", "model_version"), ("horizon", "bucket"),
    ]  # fmt: skip
    if categories is not None:
        lookup = categories.select(pl.col("item_id", "category").cast(pl.String)).unique("item_id")
        scored = scored.join(lookup, on="item_id", how="left")
        groups.append(("category", "category"))
    parts = [_scope_metrics(scored, scope, column) for scope, column in groups]
    reference = pl.lit(backtest_wape, dtype=pl.Float64)
    return pl.concat(parts).with_columns(
        backtest_wape=reference,
        wape_vs_backtest=pl.col("wape") / reference - 1,
        decay=(pl.col("wape") > (1 + wape_tolerance) * reference).fill_null(False),
        biased=(pl.col("bias").abs() > max_abs_bias).fill_null(False),
    )


def _scope_metrics(scored: pl.DataFrame, scope: str, column: str | None) -> pl.DataFrame:
    """One scope's rows in the long layout: scope, group, n, wape, mape, rmse, bias."""
    metrics = forecast_metrics(
        scored, actual="actual", forecast="p50", by=[column] if column else None
    )
    group = pl.col(column).cast(pl.String).fill_null("unknown") if column else pl.lit("all")
    return metrics.select(pl.lit(scope).alias("scope"), group.alias("group"), *_METRICS)


def accuracy_decision(
    accuracy: pl.DataFrame, champion_version: str | None, *, min_rows: int
) -> tuple[bool, str]:
    """Decay is judged on the champion's own forecasts against its own backtest promise: older
    versions' forecasts are reported but cannot ask a freshly promoted champion to retrain
    (which would loop), and fewer than ``min_rows`` matured rows are too few to act on."""
    mine = accuracy.filter(
        (pl.col("scope") == "model_version") & (pl.col("group") == str(champion_version))
    )
    if mine.is_empty() or mine["n"][0] < min_rows:
        return False, ""
    row = mine.row(0, named=True)
    reasons = []
    if row["decay"]:
        reasons.append(
            f"WAPE {row['wape']:.3f} is {row['wape_vs_backtest']:+.0%} vs backtest "
            f"{row['backtest_wape']:.3f}"
        )
    if row["biased"]:
        reasons.append(f"bias {row['bias']:+.1%}")
    detail = f"champion v{champion_version} on {row['n']} matured rows: " + "; ".join(reasons)
    return bool(reasons), detail if reasons else ""
