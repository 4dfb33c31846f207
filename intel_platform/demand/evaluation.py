"""Rolling-origin backtests: every model on the same origins and rows, seasonal naive always
beside them (DOMAIN.md: every model must beat it, reported side by side).

Pure functions: frames in, frames out. Each forecaster gets only history <= origin and the
horizon's known-in-advance covariates, never units.
"""

__all__ = ["BacktestResult", "backtest"]

from dataclasses import dataclass
from datetime import date

import polars as pl

from intel_platform.core.metrics import forecast_metrics
from intel_platform.demand.features import GRAIN, TARGET, catalog_items
from intel_platform.demand.forecasting import (
    COVARIATES,
    HORIZON,
    backtest_origins,
    split_at_origin,
    string_ids,
)
from intel_platform.demand.training import LEVELS, Forecaster, seasonal_naive_forecaster


@dataclass(frozen=True)
class BacktestResult:
    """``metrics``: one row per scope (``window``: model x origin; ``overall``: model;
    ``category``: model x category) with n, missing, wape, mape, rmse, bias, coverage (share of
    actuals inside p10..p90, null for a model without a band). ``forecasts``: every actual row
    of every window with each model's levels (null where it gave none)."""

    metrics: pl.DataFrame
    forecasts: pl.DataFrame
    origins: list[date]

    def overall(self, metric: str = "wape") -> dict[str, float | None]:
        """``metric`` over all windows, per model: the headline comparison."""
        rows = self.metrics.filter(pl.col("scope") == "overall")
        return dict(zip(rows["model"].to_list(), rows[metric].to_list(), strict=True))


def backtest(
    daily: pl.DataFrame,
    products: pl.DataFrame,
    models: dict[str, Forecaster],
    *,
    windows: int = 3,
    horizon: int = HORIZON,
    common_rows: bool = True,
) -> BacktestResult:
    """Rolling-origin backtest of every model on the same ``windows`` origins.

    Each forecaster gets history <= origin and the horizon's covariates (price, promo, is_open;
    never units). Seasonal naive always runs as ``seasonal_naive`` (a model of that name is
    replaced by it). Rows are the actuals known in each window; a model that leaves one out
    (seasonal naive cannot forecast a series launched after the origin) gets a null p50 there,
    counted in ``missing``. ``common_rows`` (default) scores only rows every model forecast:
    the same rows for every model, not just the same windows."""
    daily = string_ids(daily).sort(GRAIN)
    models = {**models, "seasonal_naive": seasonal_naive_forecaster()}
    origins = backtest_origins(daily["date"].max(), windows=windows, horizon=horizon)
    frames = []
    for origin in origins:
        history, actuals = split_at_origin(daily, origin, horizon)
        future = actuals.select(*GRAIN, *COVARIATES)
        truth = actuals.filter(pl.col(TARGET).is_not_null()).select(
            *GRAIN, actual=pl.col(TARGET).cast(pl.Float64)
        )
        for name, forecaster in models.items():
            out = forecaster(history, future, products, horizon)
            frames.append(_scored(out, truth, name, origin))
    forecasts = (
        pl.concat(frames, how="diagonal_relaxed")
        .join(catalog_items(products).select("item_id", "category"), on="item_id", how="left")
        .select("model", "origin", *GRAIN, "category", "horizon", "actual", *LEVELS)
        .sort("model", "origin", *GRAIN)
    )
    return BacktestResult(_backtest_metrics(forecasts, common_rows=common_rows), forecasts, origins)


def _scored(out: pl.DataFrame, truth: pl.DataFrame, model: str, origin: date) -> pl.DataFrame:
    """The window's actuals with this model's levels joined on (missing levels are null)."""
    if "p50" not in out.columns:
        raise ValueError(f"forecaster {model!r} returned no p50: {out.columns}")
    levels = [
        pl.col(c).cast(pl.Float64) if c in out.columns else pl.lit(None, pl.Float64).alias(c)
        for c in LEVELS
    ]
    predicted = string_ids(out).select(*GRAIN, *levels)
    return truth.join(predicted, on=GRAIN, how="left").with_columns(
        model=pl.lit(model),
        origin=pl.lit(origin),
        horizon=(pl.col("date") - pl.lit(origin)).dt.total_days().cast(pl.Int16),
    )


def _backtest_metrics(forecasts: pl.DataFrame, *, common_rows: bool) -> pl.DataFrame:
    """Metrics per window, overall and per category, plus p10..p90 coverage and ``missing``
    (actual rows of the scope the model left without a p50). With ``common_rows`` only rows
    every model forecast are scored, so models are compared on identical rows."""
    known = pl.all_horizontal(pl.col("actual", "p10", "p90").is_not_null())
    inside = pl.col("actual").is_between(pl.col("p10"), pl.col("p90"))
    shared = pl.col("p50").is_not_null().all().over("origin", *GRAIN)
    scored = forecasts.filter(shared) if common_rows else forecasts
    frames = []
    for scope, by in (
        ("window", ["model", "origin"]),
        ("overall", ["model"]),
        ("category", ["model", "category"]),
    ):
        missing = forecasts.group_by(by).agg(missing=pl.col("p50").is_null().sum())
        scores = forecast_metrics(scored, actual="actual", forecast="p50", by=by)
        coverage = scored.group_by(by).agg(coverage=inside.filter(known).mean())
        joined = missing.join(scores, on=by, how="left", nulls_equal=True).join(
            coverage, on=by, how="left", nulls_equal=True
        )
        frames.append(joined.with_columns(pl.col("n").fill_null(0), scope=pl.lit(scope)))
    out = pl.concat(frames, how="diagonal_relaxed")
    metrics = ["n", "missing", "wape", "mape", "rmse", "bias", "coverage"]
    return out.select("scope", "model", "origin", "category", *metrics).sort(
        "scope", "model", "origin", "category", nulls_last=True
    )
