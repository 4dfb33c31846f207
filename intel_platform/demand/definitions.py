"""The demand forecasting code location: ``dagster dev -w workspace.yaml`` loads it alone."""

import dagster as dg

from intel_platform.core.automation import keys
from intel_platform.core.location import product_location
from intel_platform.demand import (
    decisions,
    features,
    forecasts,
    harmonized,
    models,
    monitoring,
    raw,
)
from intel_platform.demand.monitoring import SENSORS as retrain_sensors
from intel_platform.demand.sensors import SENSORS as landing_sensors

LAYERS = [raw, harmonized, features, models, forecasts, decisions, monitoring]
DAILY_HISTORY = dg.AssetSelection.groups("demand_raw", "demand_harmonized")
# New days arrive through the landing sensor; each layer below follows its inputs.
EAGER = dg.AssetSelection.groups("demand_harmonized")  # the latest day follows its raw day
FOLLOWS = keys(
    "demand/features/store_item_day",
    "demand/forecasts/store_item_daily",
    "demand/decisions/replenishment",
    "demand/monitoring/feature_drift",  # drift and accuracy re-checked on every new day
    "demand/monitoring/forecast_accuracy",
)
FRESH = keys(
    "demand/raw/pos_sales",
    "demand/harmonized/sales",
    "demand/features/store_item_day",
    "demand/forecasts/store_item_daily",
    "demand/decisions/replenishment",
)
RETRAIN = ["demand/models/backtest", "demand/models/lightgbm", "demand/models/prophet"]
NIGHTLY_RETRAIN = dg.ScheduleDefinition(
    name="demand_nightly_retrain",
    cron_schedule="0 2 * * *",
    target=keys(*RETRAIN),
    tags={"retrain_reason": "schedule"},
    run_config={"ops": {op: {"config": {"retrain_reason": "schedule"}}
                        for op in ("demand__models__lightgbm", "demand__models__prophet")}},
    default_status=dg.DefaultScheduleStatus.RUNNING,
)  # fmt: skip


@dg.definitions
def defs() -> dg.Definitions:
    """Assembled like every product's location (``core.location``)."""
    return product_location(
        "demand", LAYERS, schedules=[NIGHTLY_RETRAIN], sensors=[*landing_sensors, *retrain_sensors],
        eager=EAGER, follows=FOLLOWS, fresh=FRESH, history=DAILY_HISTORY,
    )  # fmt: skip
