"""Forecast accuracy and drift metrics, product-agnostic.

Definitions follow DOMAIN.md: WAPE = sum|a - f| / sum a (the retail headline, robust to zero
actuals), MAPE over non-zero actuals only, bias = sum(f - a) / sum a (positive: over-forecast),
RMSE for completeness. Rows where the actual or the forecast is null are left out of every
metric: a missing actual is unknown demand, not zero demand. A ratio whose denominator is zero
is null rather than inf, so a dashboard shows "undefined" instead of a misleading number.

``psi`` compares a feature's distribution in two samples (training vs serving); DOMAIN.md
thresholds: > 0.2 warn, > 0.3 retrain.

Classification (churn): ranking quality (ROC-AUC, PR-AUC as average precision), the retention
team's view (precision and recall in the top ``k``, computed per list and averaged: the team
works one list a week, not one pooled ranking), and calibration (Brier score, a decile table,
expected calibration error) because the score is shown as a probability. Labels are 0/1 (or
booleans), scores any real numbers (probabilities for the calibration metrics). A metric that
is undefined on the sample (AUC with one class, recall without positives) is NaN, not 0.
"""

__all__ = [
    "average_precision",
    "bias",
    "brier_score",
    "calibration_table",
    "classification_metrics",
    "expected_calibration_error",
    "forecast_metrics",
    "mape",
    "precision_at_k",
    "psi",
    "recall_at_k",
    "rmse",
    "roc_auc",
    "wape",
]

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


# --- classification ------------------------------------------------------------------------


def _labels_scores(labels: object, scores: object) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d of one length: {y.shape}, {s.shape}")
    return y, s


def roc_auc(labels: object, scores: object) -> float:
    """Probability that a random positive outranks a random negative (ties count half), via
    the Mann-Whitney rank sum; NaN when only one class is present."""
    y, s = _labels_scores(labels, scores)
    positives = y.sum()
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        return math.nan
    ranks = pl.Series(s).rank("average").to_numpy()
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def average_precision(labels: object, scores: object) -> float:
    """PR-AUC as average precision: sum over thresholds of (R_n - R_n-1) * P_n, one threshold
    per distinct score (scikit-learn's definition). A random ranking scores the positive rate;
    NaN without positives."""
    y, s = _labels_scores(labels, scores)
    if y.sum() == 0:
        return math.nan
    order = np.argsort(-s, kind="stable")
    y, s = y[order], s[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), y.size - 1]
    true_pos = np.cumsum(y)[last_of_tie]
    precision = true_pos / (last_of_tie + 1)
    recall = true_pos / true_pos[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def _top_k(y: np.ndarray, s: np.ndarray, k: int) -> np.ndarray:
    """Labels of the ``k`` highest scores; ties keep row order (sort by grain first)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return y[np.argsort(-s, kind="stable")[:k]]


def precision_at_k(labels: object, scores: object, k: int) -> float:
    """Share of positives among the ``k`` highest scores (all rows when fewer than ``k``):
    of the customers the team calls, how many were really leaving."""
    y, s = _labels_scores(labels, scores)
    if y.size == 0:
        return math.nan
    return float(_top_k(y, s, k).mean())


def recall_at_k(labels: object, scores: object, k: int) -> float:
    """Share of all positives found among the ``k`` highest scores; NaN without positives."""
    y, s = _labels_scores(labels, scores)
    if y.sum() == 0:
        return math.nan
    return float(_top_k(y, s, k).sum() / y.sum())


def brier_score(labels: object, probabilities: object) -> float:
    """Mean squared error of the probability: 0 perfect, prevalence * (1 - prevalence) for a
    constant guess of the prevalence."""
    y, p = _labels_scores(labels, probabilities)
    return float(np.mean((p - y) ** 2))


def calibration_table(labels: object, probabilities: object, bins: int = 10) -> pl.DataFrame:
    """Equal-count bins of the predicted probability (deciles by default; ties split by row
    order so every bin has n // bins or one more rows): bin (1 = lowest), n, mean_predicted,
    observed_rate. A calibrated model has mean_predicted ~ observed_rate in every bin."""
    y, p = _labels_scores(labels, probabilities)
    slots = np.empty(y.size, dtype=np.int64)
    slots[np.argsort(p, kind="stable")] = np.arange(y.size) * bins // max(y.size, 1)
    frame = pl.DataFrame({"bin": slots + 1, "y": y, "p": p})
    return (
        frame.group_by("bin")
        .agg(
            n=pl.len().cast(pl.Int64),
            mean_predicted=pl.col("p").mean(),
            observed_rate=pl.col("y").mean(),
        )
        .sort("bin")
    )


def expected_calibration_error(labels: object, probabilities: object, bins: int = 10) -> float:
    """Row-weighted mean |mean_predicted - observed_rate| over ``calibration_table``'s bins."""
    table = calibration_table(labels, probabilities, bins)
    if table.height == 0:
        return math.nan
    gap = (table["mean_predicted"] - table["observed_rate"]).abs()
    return float((gap * table["n"]).sum() / table["n"].sum())


def classification_metrics(
    frame: pl.DataFrame,
    *,
    label: str,
    score: str,
    k: int,
    by: str | None = None,
    bins: int = 10,
) -> dict[str, float]:
    """rows, positives, prevalence, roc_auc, pr_auc, brier, ece over all rows; precision_at_k
    and recall_at_k per group of ``by`` (e.g. one snapshot = one weekly call list) averaged
    over groups (recall over groups with positives). Rows with a null label are left out."""
    known = frame.filter(pl.col(label).is_not_null() & pl.col(score).is_not_null())
    y = known[label].cast(pl.Float64).to_numpy()
    s = known[score].cast(pl.Float64).to_numpy()
    groups = known.partition_by(by, maintain_order=True) if by else [known]
    at_k = [
        (
            precision_at_k(g[label].cast(pl.Float64), g[score].cast(pl.Float64), k),
            recall_at_k(g[label].cast(pl.Float64), g[score].cast(pl.Float64), k),
        )
        for g in groups
        if g.height
    ]
    precisions = [p for p, _ in at_k]
    recalls = [r for _, r in at_k if not math.isnan(r)]
    return {
        "rows": float(y.size),
        "positives": float(y.sum()),
        "prevalence": float(y.mean()) if y.size else math.nan,
        "roc_auc": roc_auc(y, s),
        "pr_auc": average_precision(y, s),
        "precision_at_k": float(np.mean(precisions)) if precisions else math.nan,
        "recall_at_k": float(np.mean(recalls)) if recalls else math.nan,
        "brier": brier_score(y, s) if y.size else math.nan,
        "ece": expected_calibration_error(y, s, bins) if y.size else math.nan,
    }
