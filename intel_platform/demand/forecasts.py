"""Forecasts layer: the next 28 days per active store x item from the registered champion,
with p10/p50/p90, the model version and ``data_as_of`` on every row, cold-start series
forecast from the level above (and saying so). Blocking checks guard what decisions read.
"""

from datetime import date, timedelta

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from intel_platform.core.checks import CheckDefinition, completeness_outcome, contract_outcome
from intel_platform.core.metadata import table_metadata
from intel_platform.core.registry import champion, data_version, load_champion
from intel_platform.core.resources import MlflowResource, ProjectHomeResource
from intel_platform.core.warehouse import (
    read_table,
    replace_partitions,
    replace_table,
    table_exists,
    table_name,
)
from intel_platform.demand.charts import chart_panels, markdown_image, render_png
from intel_platform.demand.contracts import ForecastModel
from intel_platform.demand.features import GRAIN, MIN_HISTORY_DAYS, read_codes
from intel_platform.demand.forecasting import COVARIATES, recursive_forecast
from intel_platform.demand.models import EXPERIMENT, LIGHTGBM_MODEL, data_as_of, read_features
from intel_platform.demand.training import cold_start_fallback, contributions

KEY = dg.AssetKey(["demand", "forecasts", "store_item_daily"])
PLAN_KEY = dg.AssetKey(["demand", "harmonized", "plan"])
HISTORY_TABLE = "demand_forecasts.store_item_daily_history"
SERIES = ["store_id", "item_id"]
PLAN_SCHEMA = {"store_id": pl.String, "item_id": pl.String, "date": pl.Date,
               "promo": pl.Boolean, "is_open": pl.Boolean}  # fmt: skip

CHECKS = [
    CheckDefinition(
        KEY,
        "forecast_contract",
        "Pandera ForecastModel: no negative forecasts, p10 <= p50 <= p90, no nulls in required "
        "columns, one row per store-item-day, every day after data_as_of.",
        "Do not release orders from this forecast: read sample_rows; a crossed interval or a "
        "negative value is a model bug (roll back: intel-platform model rollback "
        "demand_lightgbm), then re-materialize the forecast.",
    ),
    CheckDefinition(
        KEY,
        "forecast_horizon_complete",
        "Every active series (a row in the last 28 days) has a forecast for every horizon day.",
        "sample_rows lists series-days without a forecast: check the model's feature rows for "
        "them (new store or item codes), fix, re-materialize; replenishment waits meanwhile.",
    ),
]


class ForecastConfig(dg.Config):
    horizon: int = 28
    active_days: int = 28


def future_covariates(
    history: pl.DataFrame, *, horizon: int, active_days: int, plan: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Known-in-advance inputs of the horizon for every active series: the last known price;
    promotion and opening from the ``plan`` (store_id, item_id, date, promo, is_open) where it
    says so, else no promotion and the opening pattern of the last observed week (a store
    closed on Sundays stays closed; open when unknown), so a closed day is forecast as zero."""
    origin = history["date"].max()
    recent = history.filter(pl.col("date") > origin - timedelta(days=active_days))
    last_price = (
        recent.sort("date")
        .group_by(SERIES)
        .agg(price_per_unit=pl.col("price_per_unit").drop_nulls().last())
    )
    last_week = recent.filter(pl.col("date") > origin - timedelta(days=7)).select(
        *SERIES, weekday=pl.col("date").dt.weekday(), last_open=pl.col("is_open")
    )
    days = pl.DataFrame(
        {"date": pl.date_range(origin + timedelta(days=1), origin + timedelta(days=horizon),
                               eager=True)}
    ).with_columns(weekday=pl.col("date").dt.weekday())  # fmt: skip
    planned = (plan if plan is not None else pl.DataFrame(schema=PLAN_SCHEMA)).select(
        pl.col(SERIES).cast(pl.String), "date", pl.col("promo").alias("planned_promo"),
        pl.col("is_open").alias("planned_open"),
    )  # fmt: skip
    return (
        last_price.with_columns(pl.col(SERIES).cast(pl.String))
        .join(days, how="cross")
        .join(last_week.with_columns(pl.col(SERIES).cast(pl.String)), on=[*SERIES, "weekday"],
              how="left")
        .join(planned, on=[*SERIES, "date"], how="left")
        .select(*SERIES, "date", "price_per_unit",
                promo=pl.col("planned_promo").fill_null(False),
                is_open=pl.coalesce("planned_open", "last_open", pl.lit(True)))
    )  # fmt: skip


def series_drivers(model, newest: pl.DataFrame) -> pl.DataFrame:
    """Per series, the three features that move the model's view of it most (LightGBM SHAP
    contributions on the newest observed day), as one readable line for the decision table."""
    explained = contributions(model, newest, top=3)
    parts = [
        pl.format("{} {}", pl.col(f"driver_{k}"),
                  pl.col(f"contribution_{k}").round(2).cast(pl.String))
        for k in (1, 2, 3)
    ]  # fmt: skip
    return explained.select(
        pl.col(SERIES).cast(pl.String), drivers=pl.concat_str(parts, separator=", ")
    )


@dg.asset(
    key=KEY, group_name="demand_forecasts", owners=["team:demand"], code_version="1",
    deps=[dg.AssetKey(["demand", "features", "store_item_day"]),
          dg.AssetKey(["demand", "models", "lightgbm"]), PLAN_KEY],
    kinds={"lightgbm", "mlflow", "duckdb"}, check_specs=[c.spec for c in CHECKS],
)  # fmt: skip
def store_item_daily(
    config: ForecastConfig,
    warehouse: DuckDBResource,
    project_home: ProjectHomeResource,
    mlflow: MlflowResource,
):
    """Next ``horizon`` days per store x item, recursive (the same feature code as training),
    from ``models:/demand_lightgbm@champion``; ``fallback`` names the level used for series
    with too little history, never zero and never null."""
    from intel_platform.demand.serving import demand_model  # noqa: PLC0415 (imports MLflow)

    target = mlflow.target(EXPERIMENT)
    serving = champion(target, LIGHTGBM_MODEL)
    if serving is None:
        raise dg.Failure(description="No champion for demand_lightgbm yet: materialize "
                         "demand/models/lightgbm and let the gate promote one.")  # fmt: skip
    model = demand_model(load_champion(target, LIGHTGBM_MODEL, "pyfunc"))
    home = project_home.home
    last = read_features(home, columns=["date"])["date"].max()
    history = read_features(home, since=last - timedelta(days=MIN_HISTORY_DAYS + 28),
                            columns=[*GRAIN, "units", *COVARIATES])  # fmt: skip
    with warehouse.get_connection() as conn:
        products = read_table(conn, "demand_harmonized.products")
        codes = read_codes(conn)  # the codes the champion was trained on
        plan = (
            read_table(conn, table_name(PLAN_KEY))
            if table_exists(conn, table_name(PLAN_KEY))
            else None
        )
    future = future_covariates(
        history, horizon=config.horizon, active_days=config.active_days, plan=plan
    )
    forecast = recursive_forecast(
        history, future, products, model.predict, config.horizon, codes=codes
    )
    newest = read_features(home, since=last).filter(pl.col("units").is_not_null())
    forecast = _finish(
        cold_start_fallback(forecast, history, products)
        .join(series_drivers(model, newest), on=SERIES, how="left"),
        serving.version, data_as_of(history),
    )  # fmt: skip
    with warehouse.get_connection() as conn:
        replace_table(conn, table_name(KEY), forecast)
        # The archive keeps every issued forecast (one slice per data_as_of) for scoring
        # against actuals as they land; re-issuing a day replaces its slice.
        as_of = forecast["data_as_of"].max()
        replace_partitions(conn, HISTORY_TABLE, forecast, partition_column="data_as_of",
                           first=as_of, last=as_of)  # fmt: skip
    yield dg.MaterializeResult(
        metadata=_metadata(forecast, history, serving.version),
        # A content hash: new series (e.g. after a mapping fix) change it as well as a new day
        # or a new model, so decisions downstream follow (automation reacts to data versions).
        data_version=dg.DataVersion(data_version(forecast)),
    )
    outcomes = {
        "forecast_contract": contract_outcome(ForecastModel, forecast),
        "forecast_horizon_complete": completeness_outcome(
            forecast,
            future.select(pl.col(SERIES).cast(pl.String), "date"),
            keys=list(GRAIN),
            partition_column="date",
            max_missing_share=0.0,
        ),  # fmt: skip
    }
    for check in CHECKS:
        yield check.result(outcomes[check.name])


def _finish(forecast: pl.DataFrame, version: str, as_of: date) -> pl.DataFrame:
    return forecast.with_columns(
        pl.col("store_id", "item_id").cast(pl.String),
        pl.col("horizon").cast(pl.Int16),
        pl.col("p10", "p50", "p90").cast(pl.Float32),
        model_version=pl.lit(version),
        data_as_of=pl.lit(as_of),
    ).select(
        *GRAIN, "horizon", "p10", "p50", "p90", "fallback", "drivers", "model_version",
        "data_as_of",
    )  # fmt: skip


def _metadata(forecast: pl.DataFrame, history: pl.DataFrame, version: str) -> dict:
    panels = chart_panels(history.filter(pl.col("units").is_not_null()), forecast)
    fallbacks = forecast.group_by("fallback").agg(pl.struct(SERIES).n_unique().alias("series"))
    return {
        **table_metadata(forecast.height, forecast.schema),
        "model_version": version,
        "data_as_of": str(forecast["data_as_of"].max()),
        "series": forecast.select(SERIES).n_unique(),
        "series_by_fallback": dict(zip(fallbacks["fallback"], fallbacks["series"], strict=True)),
        "forecast_units_p50": float(forecast["p50"].sum()),
        "chart": dg.MetadataValue.md(markdown_image(render_png(panels), "forecast")),
    }
