"""Demand model training, explanations, the forecasters the backtest compares (``evaluation``)
and the cold-start fallback.

Pure functions: frames in, frames (or a fitted model) out; no Dagster, no MLflow, no I/O, no
clock (a forecast origin is the last date of the history it is given).

Why these choices
- One global LightGBM over every store x item (M5 practice): slow movers borrow strength from
  the rest. ``tweedie`` suits intermittent, non-negative counts. The p10/p90 band comes from two
  quantile boosters (objective ``quantile``, alpha 0.1/0.9) trained on the same rows, not from
  calibrated residuals: the band then widens per row where demand is erratic, which is what
  safety stock needs, and there is no hold-out set to carve out of a short history.
- Features come from ``build_features`` both here and inside ``recursive_forecast``: one feature
  definition for training and serving.
- A series younger than ``min_history_days`` has no lags to learn from: its forecast comes
  from the level above (the new category story), never 0 and never null.
"""

__all__ = [
    "LEVELS",
    "DemandModel",
    "Forecaster",
    "LightGBMParams",
    "cold_start_fallback",
    "contributions",
    "feature_importance",
    "lightgbm_forecaster",
    "seasonal_naive_forecaster",
    "train_lightgbm",
    "with_cold_start",
]

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from intel_platform.demand.features import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    GRAIN,
    TARGET,
    build_features,
    catalog_items,
)
from intel_platform.demand.forecasting import (
    IDS,
    recursive_forecast,
    seasonal_naive,
    string_ids,
)

if TYPE_CHECKING:
    import lightgbm

# (history <= origin, future covariates, products, horizon) -> grain + p50 [, p10, p90]
Forecaster = Callable[[pl.DataFrame, pl.DataFrame, pl.DataFrame, int], pl.DataFrame]
LEVELS = ("p10", "p50", "p90")


@dataclass(frozen=True)
class LightGBMParams:
    """Tunables of the global model; ``window_days`` bounds training to the recent past, so
    training cost stays flat as history grows and old regimes fade out."""

    window_days: int = 730
    objective: str = "tweedie"
    tweedie_variance_power: float = 1.2
    learning_rate: float = 0.05
    num_boost_round: int = 300
    num_leaves: int = 31
    min_data_in_leaf: int = 20
    feature_fraction: float = 0.9
    num_threads: int = 0  # 0: LightGBM's default (all cores)
    seed: int = 0

    def booster_params(self, alpha: float | None = None) -> dict[str, Any]:
        """LightGBM parameters of the p50 booster (``alpha`` None) or a quantile booster."""
        objective = "quantile" if alpha is not None else self.objective
        return {
            "objective": objective,
            "alpha": alpha if alpha is not None else 0.5,  # read by "quantile" only
            "tweedie_variance_power": self.tweedie_variance_power,  # read by "tweedie" only
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "verbosity": -1,
        }


@dataclass(frozen=True)
class DemandModel:
    """Fitted p10/p50/p90 boosters and what they were trained on (rows, date window).

    ``predict`` is the ``predict`` callable of ``recursive_forecast``."""

    boosters: "dict[str, lightgbm.Booster]"
    features: tuple[str, ...]
    rows_used: int
    train_start: date
    train_end: date
    params: LightGBMParams

    def predict(self, frame: pl.DataFrame) -> dict[str, np.ndarray]:
        """p10/p50/p90 per row, sorted across levels and clipped at 0 (quantile boosters are
        fitted independently and can cross)."""
        matrix = _matrix(frame, self.features)
        stacked = np.vstack([self.boosters[level].predict(matrix) for level in LEVELS])
        stacked = np.clip(np.sort(stacked, axis=0), 0.0, None)
        return dict(zip(LEVELS, stacked, strict=True))


def _matrix(
    frame: pl.DataFrame, features: tuple[str, ...], rows: pl.Series | None = None
) -> np.ndarray:
    """Float32 feature matrix (nulls become NaN, LightGBM's missing value) of the ``rows``
    mask (default: all rows). Filled one column at a time into a column-major array, which
    LightGBM reads as is: no filtered copy of the frame and no second, transposed matrix
    (at the M5 window that is two 1 GB copies fewer)."""
    height = frame.height if rows is None else int(rows.sum())
    matrix = np.empty((height, len(features)), dtype=np.float32, order="F")
    for j, name in enumerate(features):
        column = frame[name] if rows is None else frame[name].filter(rows)
        matrix[:, j] = column.cast(pl.Float32).to_numpy()
    return matrix


def train_lightgbm(features: pl.DataFrame, *, params: LightGBMParams) -> DemandModel:
    """Fit the p50 (``params.objective``) and p10/p90 (quantile) boosters on the rows of
    ``build_features`` output with a known target in the last ``window_days`` days.

    Missing days (null units) are unknown demand, not zero, so they are not training rows.
    Codes are passed as categoricals, so LightGBM splits on item identity, not on its order.
    The binned dataset is built once and shared by the three boosters; the float matrix is
    freed as soon as it is binned."""
    import lightgbm

    known = pl.col(TARGET).is_not_null()
    end = features.select(pl.col("date").filter(known).max()).item()
    if end is None:
        raise ValueError("no rows with a known target to train on")
    window = features.select(known & (pl.col("date") > end - timedelta(days=params.window_days)))
    rows = window.to_series()
    names = tuple(FEATURE_COLUMNS)
    data = lightgbm.Dataset(
        _matrix(features, names, rows),
        label=features[TARGET].filter(rows).cast(pl.Float32).to_numpy(),
        feature_name=list(names),
        categorical_feature=list(CATEGORICAL_FEATURES),
        params=params.booster_params(),  # what binning reads (seed, min_data_in_leaf) is shared
    ).construct()  # frees the float matrix: only the bins stay
    boosters = {
        level: lightgbm.train(
            params.booster_params(alpha), data, num_boost_round=params.num_boost_round
        )
        for level, alpha in (("p10", 0.1), ("p50", None), ("p90", 0.9))
    }
    start = features["date"].filter(rows).min()
    return DemandModel(boosters, names, int(rows.sum()), start, end, params)


def feature_importance(model: DemandModel) -> dict[str, float]:
    """Total gain per feature of the p50 booster, largest first: what the point forecast
    leans on (the data scientist's first look when a model changes)."""
    gains = model.boosters["p50"].feature_importance(importance_type="gain")
    pairs = sorted(zip(model.features, gains, strict=True), key=lambda p: -p[1])
    return {name: float(gain) for name, gain in pairs}


def contributions(model: DemandModel, frame: pl.DataFrame, *, top: int = 3) -> pl.DataFrame:
    """The ``top`` features that moved each row's p50 most (SHAP values via ``pred_contrib``).

    Output: the grain columns present in ``frame``, ``baseline`` (the model's expected raw
    score), then ``driver_k`` (feature name) and ``contribution_k`` for k = 1..top, largest
    absolute contribution first. Values are in the booster's raw score space (log scale for
    tweedie: exp(baseline + sum of all contributions) is the p50 before clipping)."""
    raw = model.boosters["p50"].predict(_matrix(frame, model.features), pred_contrib=True)
    values, baseline = raw[:, :-1], raw[:, -1]
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :top]
    names = np.asarray(model.features)
    columns: dict[str, Any] = {"baseline": baseline}
    for k in range(order.shape[1]):
        columns[f"driver_{k + 1}"] = names[order[:, k]]
        columns[f"contribution_{k + 1}"] = np.take_along_axis(values, order[:, k : k + 1], 1)[:, 0]
    keys = [c for c in GRAIN if c in frame.columns]
    return pl.concat([frame.select(keys), pl.DataFrame(columns)], how="horizontal")


def lightgbm_forecaster(params: LightGBMParams | None = None) -> Forecaster:
    """Train on features of the history only, then forecast recursively (p50 fed back)."""
    params = params or LightGBMParams()

    def forecast(
        history: pl.DataFrame, future: pl.DataFrame, products: pl.DataFrame, horizon: int
    ) -> pl.DataFrame:
        model = train_lightgbm(build_features(history.lazy(), products).collect(), params=params)
        return recursive_forecast(history, future, products, model.predict, horizon)

    return forecast


def seasonal_naive_forecaster() -> Forecaster:
    """The baseline: same weekday of the last observed week (null where never observed)."""

    def forecast(
        history: pl.DataFrame, _future: pl.DataFrame, _products: pl.DataFrame, horizon: int
    ) -> pl.DataFrame:
        return seasonal_naive(history, horizon)

    return forecast


def with_cold_start(forecaster: Forecaster, *, min_history_days: int = 28) -> Forecaster:
    """``forecaster`` followed by ``cold_start_fallback``, so a backtest scores what serving
    would publish for young series."""

    def forecast(
        history: pl.DataFrame, future: pl.DataFrame, products: pl.DataFrame, horizon: int
    ) -> pl.DataFrame:
        out = forecaster(history, future, products, horizon)
        return cold_start_fallback(out, history, products, min_history_days=min_history_days)

    return forecast


def cold_start_fallback(
    forecast: pl.DataFrame,
    history: pl.DataFrame,
    products: pl.DataFrame,
    *,
    min_history_days: int = 28,
    lookback_days: int = 28,
) -> pl.DataFrame:
    """Forecast young series (fewer than ``min_history_days`` observed days up to the origin)
    and null forecasts from the level above, over the last ``lookback_days`` of established
    series: the store x category mean units per item-day (``fallback`` = ``category``); if the
    whole category is new in that store, the store's mean (``store``); for a store with no
    established series at all, the chain's (``chain``). Other rows keep their forecast
    (``none``). p10/p90, where present, become that level's 10th/90th percentile of units.

    Why: a launch has no lags, and a model extrapolating from nothing (or a pipeline reading
    missing as zero) doubles the error for weeks (DOMAIN.md, "the new category")."""
    forecast = forecast.drop("fallback", strict=False)
    out = _with_levels_above(forecast, history, products, min_history_days, lookback_days)
    cold = (pl.col("_days").fill_null(0) < min_history_days) | pl.col("p50").is_null()
    source = (
        pl.when(~cold)
        .then(pl.lit("none"))
        .when(pl.col("_category_p50") > 0)
        .then(pl.lit("category"))
        .when(pl.col("_store_p50") > 0)
        .then(pl.lit("store"))
        .otherwise(pl.lit("chain"))
    )
    out = out.with_columns(fallback=source)
    levels = [c for c in LEVELS if c in forecast.columns]
    for c in levels:
        picked = pl.col(c).cast(pl.Float64)
        for level in ("category", "store", "chain"):
            picked = pl.when(pl.col("fallback") == level).then(f"_{level}_{c}").otherwise(picked)
        out = out.with_columns(picked.alias(c))
    if {"p10", "p90"} <= set(levels):  # keep p10 <= p50 <= p90 after mixing levels
        out = out.with_columns(
            p10=pl.min_horizontal("p10", "p50"), p90=pl.max_horizontal("p90", "p50")
        )
    return out.select(*forecast.columns, "fallback").sort(GRAIN)


def _with_levels_above(
    forecast: pl.DataFrame,
    history: pl.DataFrame,
    products: pl.DataFrame,
    min_history_days: int,
    lookback_days: int,
) -> pl.DataFrame:
    """``forecast`` plus each series' observed days (``_days``) and the category, store and
    chain statistics of established series over the lookback (``_<level>_p10/p50/p90``)."""
    origin = history["date"].max()
    known = string_ids(history).filter(pl.col(TARGET).is_not_null())
    days = known.group_by(IDS).agg(_days=pl.len())
    recent = (
        known.filter(pl.col("date") > origin - timedelta(days=lookback_days))
        .join(days.filter(pl.col("_days") >= min_history_days), on=IDS, how="semi")
        .join(catalog_items(products).select("item_id", "category"), on="item_id", how="left")
    )
    return (
        string_ids(forecast)
        .join(days, on=IDS, how="left")
        .join(catalog_items(products).select("item_id", _cat="category"), on="item_id", how="left")
        .join(
            _level_stats(recent, ["store_id", "category"], "_category"),
            how="left",
            left_on=["store_id", "_cat"],
            right_on=["store_id", "category"],
        )
        .join(_level_stats(recent, ["store_id"], "_store"), on="store_id", how="left")
        .join(_level_stats(recent, [], "_chain"), how="cross")
    )


def _level_stats(recent: pl.DataFrame, keys: list[str], prefix: str) -> pl.DataFrame:
    """Mean and 10th/90th percentile of units per item-day at one level of the hierarchy."""
    units = pl.col(TARGET).cast(pl.Float64)
    stats = {
        f"{prefix}_p50": units.mean(),
        f"{prefix}_p10": units.quantile(0.1),
        f"{prefix}_p90": units.quantile(0.9),
    }
    return recent.group_by(keys).agg(**stats) if keys else recent.select(**stats)
