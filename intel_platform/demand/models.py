"""Models layer: a rolling-origin backtest of every model against seasonal naive, then LightGBM
trained, tracked in MLflow, registered as challenger and promoted to champion only through the
gate. Training and scoring code is in ``training.py``; these assets only orchestrate.
"""

from dataclasses import replace
from datetime import date, timedelta

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from intel_platform.core.gate import register_and_gate
from intel_platform.core.metadata import markdown_table, table_metadata
from intel_platform.core.parquet_tables import scan, table_dir
from intel_platform.core.registry import TrainingRun, data_version
from intel_platform.core.resources import MlflowResource, ProjectHomeResource
from intel_platform.core.warehouse import read_table, replace_table, table_name
from intel_platform.demand.evaluation import backtest as run_backtest
from intel_platform.demand.features import FEATURE_COLUMNS, GRAIN, MIN_HISTORY_DAYS
from intel_platform.demand.forecasting import COVARIATES
from intel_platform.demand.prophet_models import (
    fit_series_models,
    holiday_frame,
    prophet_forecaster,
)
from intel_platform.demand.training import (
    LightGBMParams,
    contributions,
    feature_importance,
    lightgbm_forecaster,
    train_lightgbm,
    with_cold_start,
)

KEY_PREFIX = ["demand", "models"]
GROUP = "demand_models"
OWNERS = ["team:demand"]
FEATURES_KEY = dg.AssetKey(["demand", "features", "store_item_day"])
PRODUCTS_KEY = dg.AssetKey(["demand", "harmonized", "products"])
EXPERIMENT = "demand"
LIGHTGBM_MODEL = "demand_lightgbm"
PROPHET_MODEL = "demand_prophet"
BASELINE = "seasonal_naive"


class ModelConfig(dg.Config):
    """Tunables of training, backtest and gate; ``retrain_reason`` travels into MLflow."""

    window_days: int = 365
    num_boost_round: int = 300
    backtest_windows: int = 3
    horizon: int = 28
    prophet_level: list[str] = ["store_id"]  # noqa: RUF012
    prophet_workers: int = 2
    prophet_timeout_s: float = 60.0
    gate_metric: str = "wape"
    gate_margin: float = 0.02
    retrain_reason: str = "manual"


def lightgbm_params(config: ModelConfig) -> LightGBMParams:
    return LightGBMParams(window_days=config.window_days, num_boost_round=config.num_boost_round)


def read_features(home, *, since: date | None = None, columns=None) -> pl.DataFrame:
    """Rows of the feature table from ``since`` (pushed down into the Parquet scan)."""
    frame = scan(table_dir(home, FEATURES_KEY))
    if since is not None:
        frame = frame.filter(pl.col("date") >= since)
    return frame.select(columns).collect() if columns else frame.collect()


def data_as_of(frame: pl.DataFrame) -> date:
    """The newest day with an observed target: what every prediction is based on."""
    return frame.filter(pl.col("units").is_not_null())["date"].max()


def history_for(home, config: ModelConfig) -> pl.DataFrame:
    """Daily demand long enough for every backtest origin to train its window with lags."""
    last = read_features(home, columns=["date"])["date"].max()
    days = config.window_days + config.backtest_windows * config.horizon + MIN_HISTORY_DAYS
    return read_features(
        home, since=last - timedelta(days=days), columns=[*GRAIN, "units", *COVARIATES]
    )


LIGHTGBM_SPEC = ("window_days", "num_boost_round", "objective", "tweedie_variance_power")
PROPHET_SPEC = ("level",)


def _register_and_gate(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    warehouse: DuckDBResource,
    mlflow: MlflowResource,
    run: TrainingRun,
    backtest_name: str,
    spec: tuple[str, ...],
) -> dict[str, object]:
    """Log and register ``run`` as challenger with its backtest numbers and retrain reason,
    then let the gate decide; returns what the materialization reports."""
    metric = config.gate_metric
    scores = _backtest_metrics(warehouse, metric)
    run = replace(
        run,
        metrics={**run.metrics, f"backtest_{metric}": scores[backtest_name],
                 f"baseline_{metric}": scores[BASELINE]},
        tags={**run.tags, "retrain_reason": config.retrain_reason,
              "dagster_run_id": context.run_id},
    )  # fmt: skip
    gated = register_and_gate(
        mlflow.target(EXPERIMENT), run, metric=metric, recorded_as=f"backtest_{metric}",
        baseline=scores[BASELINE], margin=config.gate_margin, spec=spec,
    )  # fmt: skip
    registered, decision = gated.registered, gated.decision
    context.log.info(f"{run.model_name} v{registered.version}: {decision.reason}")
    return {
        "model_version": registered.version, "mlflow_run_id": registered.run_id,
        "promoted": decision.promoted, "gate": decision.reason,
        f"backtest_{metric}": scores[backtest_name], f"baseline_{metric}": scores[BASELINE],
        "retrain_reason": config.retrain_reason,
        "data_version": run.data_versions.get("daily", run.data_versions.get("features", "")),
    }  # fmt: skip


@dg.asset(
    key_prefix=KEY_PREFIX, group_name=GROUP, owners=OWNERS, code_version="1",
    deps=[FEATURES_KEY, PRODUCTS_KEY], kinds={"lightgbm", "prophet", "duckdb"},
)  # fmt: skip
def backtest(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    warehouse: DuckDBResource,
    project_home: ProjectHomeResource,
) -> dg.MaterializeResult:
    """Rolling-origin backtest: the last ``backtest_windows`` 28-day windows, the same windows
    and rows for every model (LightGBM, Prophet per store disaggregated to items, seasonal
    naive). A forecast from origin T uses nothing after T. WAPE, MAPE, RMSE, bias, interval
    coverage; overall, per window and per category."""

    daily = history_for(project_home.home, config)
    with warehouse.get_connection() as conn:
        products = read_table(conn, table_name(PRODUCTS_KEY))
    models = {
        "lightgbm": with_cold_start(lightgbm_forecaster(lightgbm_params(config))),
        "prophet": with_cold_start(prophet_forecaster(
            config.prophet_level, max_workers=config.prophet_workers,
            timeout_s=config.prophet_timeout_s,
        )),
    }  # fmt: skip
    result = run_backtest(
        daily, products, models, windows=config.backtest_windows, horizon=config.horizon
    )
    metrics = result.metrics.with_columns(data_as_of=pl.lit(data_as_of(daily)))
    with warehouse.get_connection() as conn:
        replace_table(conn, table_name(context.asset_key), metrics)
    overall = metrics.filter(pl.col("scope") == "overall").sort("wape")
    context.log.info(f"backtest overall:\n{overall}")
    return dg.MaterializeResult(
        metadata={
            **table_metadata(metrics.height, metrics.schema),
            "overall": dg.MetadataValue.md(markdown_table(overall.drop("scope", strict=False))),
            **{f"wape_{m}": float(w) for m, w in result.overall("wape").items() if w is not None},
            "data_as_of": str(data_as_of(daily)),
        }
    )


def _backtest_metrics(warehouse: DuckDBResource, metric: str) -> dict[str, float]:
    """Overall backtest ``metric`` per model, from the backtest asset's table."""
    with warehouse.get_connection() as conn:
        frame = read_table(conn, table_name([*KEY_PREFIX, "backtest"]))
    overall = frame.filter(pl.col("scope") == "overall")
    return {m: float(v) for m, v in zip(overall["model"], overall[metric], strict=True)}


def _explanations(model, features: pl.DataFrame) -> pl.DataFrame:
    """Top-3 drivers (LightGBM ``pred_contrib``) of the newest day's rows, logged with the
    model so the reasons behind a forecast can be read next to it."""
    newest = features.filter(pl.col("date") == features["date"].max())
    return contributions(model, newest.head(2000))


@dg.asset(
    name="lightgbm", key_prefix=KEY_PREFIX, group_name=GROUP, owners=OWNERS, code_version="1",
    deps=[FEATURES_KEY, dg.AssetKey([*KEY_PREFIX, "backtest"])], kinds={"lightgbm", "mlflow"},
)  # fmt: skip
def lightgbm_model(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    warehouse: DuckDBResource,
    project_home: ProjectHomeResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """The global LightGBM model (tweedie p50, quantile p10/p90) trained on the last
    ``window_days``, logged to MLflow with its data version, registered as ``challenger`` of
    ``demand_lightgbm`` and promoted to ``champion`` only if it beats seasonal naive (and the
    champion, unless it is a refit of the champion's own spec) on the backtest by the margin."""
    # serving imports MLflow at its top: only training and scoring may pay for that import.
    from intel_platform.demand.serving import PIP_REQUIREMENTS, DemandPyfunc  # noqa: PLC0415

    params = lightgbm_params(config)
    last = read_features(project_home.home, columns=["date"])["date"].max()
    features = read_features(project_home.home, since=last - timedelta(days=config.window_days))
    model = train_lightgbm(features, params=params)
    trained = {"rows_used": model.rows_used, "train_start": str(model.train_start),
               "train_end": str(model.train_end)}  # fmt: skip
    run = TrainingRun(
        model_name=LIGHTGBM_MODEL, flavor="pyfunc", model=DemandPyfunc(model),
        features=list(FEATURE_COLUMNS),
        input_example=features.select(pl.col(FEATURE_COLUMNS).cast(pl.Float64)).head(5),
        params={**vars(params), **trained}, data_versions={"features": data_version(features)},
        feature_importance=feature_importance(model), pip_requirements=PIP_REQUIREMENTS,
        tables={"explanations": _explanations(model, features)},
    )  # fmt: skip
    outcome = _register_and_gate(context, config, warehouse, mlflow, run, "lightgbm", LIGHTGBM_SPEC)
    return dg.MaterializeResult(
        metadata={
            **outcome,
            "rows_used": model.rows_used,
        }
    )


@dg.asset(
    name="prophet", key_prefix=KEY_PREFIX, group_name=GROUP, owners=OWNERS, code_version="1",
    deps=[FEATURES_KEY, dg.AssetKey([*KEY_PREFIX, "backtest"])], kinds={"prophet", "mlflow"},
)  # fmt: skip
def prophet_model(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    warehouse: DuckDBResource,
    project_home: ProjectHomeResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """Prophet where it is good: one model per aggregate series (``prophet_level``, per store
    by default) with holidays and promotion share, registered as ``demand_prophet`` and gated
    like LightGBM on its backtest (disaggregated to store x item) against seasonal naive."""
    from intel_platform.demand.serving import PIP_REQUIREMENTS, ProphetAggregates  # noqa: PLC0415

    daily = history_for(project_home.home, config)
    start, end = daily["date"].min(), daily["date"].max()
    models = fit_series_models(
        daily, level=config.prophet_level, holidays=holiday_frame(start, end)
    )
    example = (
        daily.filter(pl.col("date") == end).group_by(config.prophet_level)
        .agg(pl.col("promo").cast(pl.Float64).mean().alias("promo_share"))
        .with_columns(ds=pl.lit(end + timedelta(days=1)).cast(pl.Datetime))
        .with_columns(pl.col(config.prophet_level).cast(pl.String))
    )  # fmt: skip
    run = TrainingRun(
        model_name=PROPHET_MODEL, flavor="pyfunc",
        model=ProphetAggregates(config.prophet_level, models),
        features=[*config.prophet_level, "ds", "promo_share"], input_example=example,
        params={"level": str(config.prophet_level), "series": len(models),
                "train_start": str(start), "train_end": str(end)},
        data_versions={"daily": data_version(daily)},
        pip_requirements=[*PIP_REQUIREMENTS, "prophet"],
    )  # fmt: skip
    outcome = _register_and_gate(context, config, warehouse, mlflow, run, "prophet", PROPHET_SPEC)
    return dg.MaterializeResult(metadata={**outcome, "series": len(models)})
