"""Monitoring layer: is the serving model still right about the world? (DOMAIN.md, "the slow
drift"). Two tables and one sensor close the loop drift or decay -> retrain -> gate -> maybe
promote:

- ``demand/monitoring/feature_drift``: PSI of every watched feature between the champion's
  training window (its ``train_start``..``train_end`` params) and the latest ``recent_days``.
- ``demand/monitoring/forecast_accuracy``: archived forecasts scored against the actuals that
  have landed since, against the champion's backtest WAPE.
- ``demand_retrain_sensor``: one retraining run per new evaluation that asks for it, with the
  reason (``drift`` / ``decay``) in the run's tags and the models' MLflow tags (built by
  ``core.retrain.build_retrain_sensor``, shared with churn).

The numbers come from ``drift.py`` (pure); these assets only read, call, write and report.
"""

from datetime import date, timedelta

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from intel_platform.core.drift import drift_summary
from intel_platform.core.metadata import markdown_table, table_metadata
from intel_platform.core.parquet_tables import scan, table_dir
from intel_platform.core.registry import ChampionInfo, champion
from intel_platform.core.resources import MlflowResource, ProjectHomeResource
from intel_platform.core.retrain import build_retrain_sensor, nothing_to_compare, verdict
from intel_platform.core.warehouse import read_table, replace_table, table_exists, table_name
from intel_platform.demand import drift
from intel_platform.demand.forecasts import HISTORY_TABLE
from intel_platform.demand.models import EXPERIMENT, LIGHTGBM_MODEL

KEY_PREFIX = ["demand", "monitoring"]
GROUP = "demand_monitoring"
OWNERS = ["team:demand"]
FEATURES_KEY = dg.AssetKey(["demand", "features", "store_item_day"])
FORECASTS_KEY = dg.AssetKey(["demand", "forecasts", "store_item_daily"])
PRODUCTS_KEY = dg.AssetKey(["demand", "harmonized", "products"])
DRIFT_KEY = dg.AssetKey([*KEY_PREFIX, "feature_drift"])
ACCURACY_KEY = dg.AssetKey([*KEY_PREFIX, "forecast_accuracy"])
RETRAIN_KEYS = (
    "demand/models/backtest", "demand/models/lightgbm", "demand/models/prophet",
    "demand/forecasts/store_item_daily", "demand/decisions/replenishment",
)  # fmt: skip
RETRAIN_SELECTION = dg.AssetSelection.assets(
    *(dg.AssetKey.from_user_string(k) for k in RETRAIN_KEYS)
)
RETRAIN_OPS = ("demand__models__lightgbm", "demand__models__prophet")
DRIFT_SCHEMA = {
    "feature": pl.String, "kind": pl.String, "psi": pl.Float64, "status": pl.String,
    "reference_start": pl.Date, "reference_end": pl.Date, "reference_rows": pl.Int64,
    "recent_start": pl.Date, "recent_end": pl.Date, "recent_rows": pl.Int64,
    "champion_version": pl.String, "data_as_of": pl.Date,
}  # fmt: skip
ACCURACY_SCHEMA = {
    "scope": pl.String, "group": pl.String, "n": pl.Int64, "wape": pl.Float64,
    "mape": pl.Float64, "rmse": pl.Float64, "bias": pl.Float64, "backtest_wape": pl.Float64,
    "wape_vs_backtest": pl.Float64, "decay": pl.Boolean, "biased": pl.Boolean,
    "window_start": pl.Date, "window_end": pl.Date, "champion_version": pl.String,
    "data_as_of": pl.Date,
}  # fmt: skip


class DriftConfig(dg.Config):
    """PSI thresholds (DOMAIN.md), the recent window, and the reference sample's bound."""

    recent_days: int = 28
    warn_psi: float = 0.2
    retrain_psi: float = 0.3
    bins: int = 10
    max_rows: int = 500_000
    seed: int = 0
    features: list[str] = list(drift.MONITORED_FEATURES)


class AccuracyConfig(dg.Config):
    """Decay and bias thresholds (DOMAIN.md) and the window of matured forecasts scored."""

    lookback_days: int = 28
    wape_tolerance: float = 0.10
    max_abs_bias: float = 0.05
    min_rows: int = 100


def _verdict(requested: bool, reason: str, detail: str, info: ChampionInfo | None) -> dict:
    """What the sensor reads from every monitoring materialization, whatever the outcome."""
    return verdict(requested, reason, detail, info.version if info else "")


def _reference_window(info: ChampionInfo | None) -> tuple[date, date] | None:
    """The champion's training days; None before the first champion (or for one trained
    before the window was logged): there is then nothing to drift from."""
    try:
        params = info.params if info else {}
        return date.fromisoformat(params["train_start"]), date.fromisoformat(params["train_end"])
    except (KeyError, ValueError):
        return None


def _data_as_of(table: pl.LazyFrame) -> date | None:
    """The newest day with a known target: the end of every 'recent' window."""
    known = table.filter(pl.col("units").is_not_null())
    return known.select(pl.col("date").max()).collect().item()


def _window_sample(
    table: pl.LazyFrame, first: date, last: date, config: DriftConfig
) -> pl.DataFrame:
    """Rows with a known target in [first, last] (what training would have used), sampled
    to at most about ``max_rows``, seeded."""
    rows = table.filter(pl.col("date").is_between(first, last) & pl.col("units").is_not_null())
    count = rows.select(pl.len()).collect().item()
    sample = drift.sample_rows(rows, count, config.max_rows, seed=config.seed)
    return sample.select(config.features).collect()


@dg.asset(
    key=DRIFT_KEY, group_name=GROUP, owners=OWNERS, code_version="1",
    deps=[FEATURES_KEY], kinds={"polars", "duckdb", "mlflow"},
)  # fmt: skip
def feature_drift(
    config: DriftConfig,
    warehouse: DuckDBResource,
    project_home: ProjectHomeResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """Has the world moved away from what the champion learned? PSI per watched feature,
    recent ``recent_days`` vs the champion's training window (numeric: reference quantile
    bins; codes: category frequencies). Over ``retrain_psi`` asks the retrain sensor for a
    retraining ("drift"); no champion yet means no reference, and nothing is asked."""
    info = champion(mlflow.target(EXPERIMENT), LIGHTGBM_MODEL)
    window = _reference_window(info)
    if window is None:
        return nothing_to_compare(warehouse, DRIFT_KEY, DRIFT_SCHEMA, "no reference", info)
    table = scan(table_dir(project_home.home, FEATURES_KEY))
    as_of = _data_as_of(table) or window[1]
    recent_start = as_of - timedelta(days=config.recent_days - 1)
    reference = _window_sample(table, *window, config)
    recent = _window_sample(table, recent_start, as_of, config)
    if reference.is_empty() or recent.is_empty():
        why = "no reference rows" if reference.is_empty() else "no recent rows"
        return nothing_to_compare(warehouse, DRIFT_KEY, DRIFT_SCHEMA, why, info)
    psi = drift.feature_drift(reference, recent, config.features, warn=config.warn_psi,
                              retrain=config.retrain_psi, bins=config.bins)  # fmt: skip
    out = psi.with_columns(
        reference_start=window[0], reference_end=window[1], reference_rows=reference.height,
        recent_start=recent_start, recent_end=as_of, recent_rows=recent.height,
        champion_version=pl.lit(info.version), data_as_of=as_of,
    ).cast(DRIFT_SCHEMA)  # fmt: skip
    with warehouse.get_connection() as conn:
        replace_table(conn, table_name(DRIFT_KEY), out)
    requested, detail = drift.drift_decision(out)
    return dg.MaterializeResult(metadata=_drift_metadata(out, requested, detail, info))


def _drift_metadata(out: pl.DataFrame, requested: bool, detail: str, info: ChampionInfo) -> dict:
    """The numbers on-call reads in the UI without opening the table, and the verdict."""
    first = out.row(0, named=True)
    return {
        **drift_summary(out),
        "reference_window": f"{first['reference_start']}..{first['reference_end']}",
        "recent_window": f"{first['recent_start']}..{first['recent_end']}",
        "data_as_of": str(first["data_as_of"]),
        **_verdict(requested, "drift", detail, info),
    }


def _archived_forecasts(warehouse: DuckDBResource, first: date, last: date) -> tuple:
    """Archived forecasts for days in [first, last] and the catalog's categories (None when
    the catalog is not there)."""
    columns = "store_id, item_id, date, horizon, p50, model_version"
    with warehouse.get_connection() as conn:
        if not table_exists(conn, HISTORY_TABLE):
            return None, None
        forecasts = conn.execute(
            f"SELECT {columns} FROM {HISTORY_TABLE} WHERE date BETWEEN ? AND ?", [first, last]
        ).pl()
        products = table_name(PRODUCTS_KEY)
        categories = (
            read_table(conn, products, ["item_id", "category"])
            if table_exists(conn, products)
            else None
        )
    return forecasts, categories


@dg.asset(
    key=ACCURACY_KEY, group_name=GROUP, owners=OWNERS, code_version="1",
    deps=[FEATURES_KEY, FORECASTS_KEY], kinds={"polars", "duckdb", "mlflow"},
)  # fmt: skip
def forecast_accuracy(
    config: AccuracyConfig,
    warehouse: DuckDBResource,
    project_home: ProjectHomeResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    """Were the forecasts we issued right? Every archived forecast whose day has come in the
    last ``lookback_days`` of actuals, scored (WAPE, MAPE, RMSE, bias) overall, per model
    version, per horizon bucket and per category. The champion's own forecasts more than
    ``wape_tolerance`` worse than its backtest WAPE, or biased beyond ``max_abs_bias``, ask
    the retrain sensor for a retraining ("decay")."""
    info = champion(mlflow.target(EXPERIMENT), LIGHTGBM_MODEL)
    table = scan(table_dir(project_home.home, FEATURES_KEY))
    as_of = _data_as_of(table)
    first = as_of - timedelta(days=config.lookback_days - 1) if as_of else None
    forecasts, categories = _archived_forecasts(warehouse, first, as_of) if as_of else (None, None)
    if forecasts is None or forecasts.is_empty():
        why = "no matured forecasts"
        return nothing_to_compare(warehouse, ACCURACY_KEY, ACCURACY_SCHEMA, why, info)
    actuals = table.filter(pl.col("date").is_between(first, as_of))
    accuracy = drift.accuracy_vs_actuals(
        forecasts, actuals.select("store_id", "item_id", "date", "units").collect(),
        backtest_wape=info.metrics.get("backtest_wape") if info else None,
        categories=categories, wape_tolerance=config.wape_tolerance,
        max_abs_bias=config.max_abs_bias,
    ).with_columns(
        window_start=pl.lit(first), window_end=pl.lit(as_of),
        champion_version=pl.lit(info.version if info else None, dtype=pl.String),
        data_as_of=pl.lit(as_of),
    ).select(list(ACCURACY_SCHEMA)).cast(ACCURACY_SCHEMA)  # fmt: skip
    with warehouse.get_connection() as conn:
        replace_table(conn, table_name(ACCURACY_KEY), accuracy)
    requested, detail = drift.accuracy_decision(
        accuracy, info.version if info else None, min_rows=config.min_rows
    )
    return dg.MaterializeResult(metadata=_accuracy_metadata(accuracy, requested, detail, info))


def _accuracy_metadata(
    accuracy: pl.DataFrame, requested: bool, detail: str, info: ChampionInfo | None
) -> dict:
    """Headline numbers (overall), every scope as a markdown table, and the verdict."""
    overall = accuracy.filter(pl.col("scope") == "overall").row(0, named=True)
    numbers = {k: overall[k] for k in ("wape", "mape", "bias", "backtest_wape")}
    shown = ["scope", "group", "n", "wape", "mape", "bias", "decay", "biased"]
    return {
        **table_metadata(accuracy.height, accuracy.schema),
        "status": "evaluated",
        "matured_rows": int(overall["n"]),
        **{k: float(v) for k, v in numbers.items() if v is not None},
        "by_scope": dg.MetadataValue.md(markdown_table(accuracy.select(shown), limit=40)),
        "window": f"{overall['window_start']}..{overall['window_end']}",
        "data_as_of": str(overall["data_as_of"]),
        **_verdict(requested, "decay", detail, info),
    }


demand_retrain_sensor = build_retrain_sensor(
    "demand",
    [DRIFT_KEY, ACCURACY_KEY],
    RETRAIN_SELECTION,
    RETRAIN_OPS,
    description="Drift or decay -> one retraining run (backtest, both models, forecast, "
    "replenishment) through the gate; the reason goes to the run's tags and to MLflow.",
)


SENSORS = [demand_retrain_sensor]
