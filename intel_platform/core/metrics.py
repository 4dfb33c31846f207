"""Forecast accuracy and drift metrics, product-agnostic.

Definitions follow DOMAIN.md: WAPE = sum|a - f| / sum a (the retail headline, robust to zero
actuals), MAPE over non-zero actuals only, bias = sum(f - a) / sum a (positive: over-forecast),
RMSE for completeness. Rows where the actual or the forecast is null are left out of every
metric: a missing actual is unknown demand, not zero demand. A ratio whose denominator is zero
is null rather than inf, so a dashboard shows "undefined" instead of a misleading number.

``psi`` compares a feature's distribution in two samples (training vs serving); DOMAIN.md
thresholds: > 0.2 warn, > 0.3 retrain.
"""

__all__ = ["bias", "forecast_metrics", "mape", "psi", "rmse", "wape"]

import math

import numpy as np
import polars as pl

PSI_EPSILON = 1e-4


def _pair(actual: str, forecast: str) -> tuple[pl.Expr, pl.Expr]:
    """Actual and forecast as Float64, restricted to rows where both are known."""
    both = pl.col(actual).is_not_null() & pl.col(forecast).is_not_null()
    return (
        pl.col(actual).cast(pl.Float64).filter(both),
        pl.col(forecast).cast(pl.Float64).filter(both),
    )


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, null when the denominator is zero."""
    return pl.when(denominator != 0).then(numerator / denominator)


def wape(actual: str = "actual", forecast: str = "forecast") -> pl.Expr:
    """Weighted absolute percentage error: sum|a - f| / sum a (aggregation expression)."""
    a, f = _pair(actual, forecast)
    return _ratio((a - f).abs().sum(), a.sum()).alias("wape")


def mape(actual: str = "actual", forecast: str = "forecast") -> pl.Expr:
    """Mean |a - f| / |a| over non-zero actuals only: a zero actual has no percentage error."""
    a, f = _pair(actual, forecast)
    nonzero = a != 0
    return ((a - f).abs() / a.abs()).filter(nonzero).mean().alias("mape")


def rmse(actual: str = "actual", forecast: str = "forecast") -> pl.Expr:
    """Root mean squared error, in units of the target."""
    a, f = _pair(actual, forecast)
    return ((f - a) ** 2).mean().sqrt().alias("rmse")


def bias(actual: str = "actual", forecast: str = "forecast") -> pl.Expr:
    """sum(f - a) / sum a: positive means over-forecasting (DOMAIN.md alert beyond +-5 %)."""
    a, f = _pair(actual, forecast)
    return _ratio((f - a).sum(), a.sum()).alias("bias")


def forecast_metrics(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    actual: str = "actual",
    forecast: str = "forecast",
    by: list[str] | None = None,
) -> pl.DataFrame:
    """n, wape, mape, rmse, bias overall (one row) or one row per group of ``by``, sorted by it.

    ``n`` counts the rows where both actual and forecast are known: the rows the other metrics
    are computed on.
    """
    known = pl.col(actual).is_not_null() & pl.col(forecast).is_not_null()
    metrics = [
        known.sum().cast(pl.Int64).alias("n"),
        wape(actual, forecast),
        mape(actual, forecast),
        rmse(actual, forecast),
        bias(actual, forecast),
    ]
    lazy = frame.lazy()
    if not by:
        return lazy.select(metrics).collect()
    return lazy.group_by(by).agg(metrics).sort(by).collect()


def psi(
    expected: pl.Series,
    actual: pl.Series,
    bins: int = 10,
    *,
    epsilon: float = PSI_EPSILON,
) -> float:
    """Population stability index of ``actual`` against ``expected``.

    Numeric or temporal: bins are the quantiles of ``expected`` (right-closed, open-ended), so
    each holds about 1/bins of it. Categorical, string or boolean: one bin per category seen in
    either sample. Nulls are a bin of their own, so a feed that starts sending nulls (the silent
    rename) shows up as drift. Shares get ``epsilon`` added before renormalising, so an empty
    bin does not make the log infinite.
    """
    if expected.len() == 0 or actual.len() == 0:
        raise ValueError("psi needs non-empty samples")
    if expected.dtype.is_temporal():  # dates and times bin like numbers, not as categories
        expected, actual = expected.to_physical(), actual.to_physical()
    if expected.dtype.is_float():  # NaN is missing too: it goes to the null bin
        expected, actual = expected.fill_nan(None), actual.cast(pl.Float64).fill_nan(None)
    if expected.dtype.is_numeric():
        e_counts, a_counts = _numeric_counts(expected, actual, bins)
    else:
        e_counts, a_counts = _category_counts(expected, actual)
    e_share = _smoothed(e_counts, epsilon)
    a_share = _smoothed(a_counts, epsilon)
    value = float(np.sum((a_share - e_share) * np.log(a_share / e_share)))
    return 0.0 if math.isclose(value, 0.0, abs_tol=1e-12) else value


def _numeric_counts(
    expected: pl.Series, actual: pl.Series, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Counts per quantile bin of ``expected`` (last slot = nulls) for both samples."""
    values = expected.drop_nulls().cast(pl.Float64).to_numpy()
    levels = np.linspace(0, 1, bins + 1)[1:-1]
    edges = np.unique(np.quantile(values, levels)) if values.size else np.array([])

    def counts(sample: pl.Series) -> np.ndarray:
        known = sample.drop_nulls().cast(pl.Float64).to_numpy()
        slots = np.searchsorted(edges, known, side="left")
        binned = np.bincount(slots, minlength=edges.size + 1)
        return np.append(binned, sample.null_count()).astype(np.float64)

    return counts(expected), counts(actual)


def _category_counts(expected: pl.Series, actual: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Counts per category over the union of both samples' categories (nulls included)."""
    e = expected.cast(pl.String).alias("value").value_counts(name="e")
    a = actual.cast(pl.String).alias("value").value_counts(name="a")
    joined = e.join(a, on="value", how="full", coalesce=True, nulls_equal=True)
    return (
        joined["e"].fill_null(0).cast(pl.Float64).to_numpy(),
        joined["a"].fill_null(0).cast(pl.Float64).to_numpy(),
    )


def _smoothed(counts: np.ndarray, epsilon: float) -> np.ndarray:
    """Shares with ``epsilon`` added to each bin, renormalised to sum to one."""
    share = counts / counts.sum() if counts.sum() else counts
    share = share + epsilon
    return share / share.sum()
