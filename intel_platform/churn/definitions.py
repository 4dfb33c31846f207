"""The churn code location: loads, reloads and deploys without the demand product."""

import dagster as dg

from intel_platform.churn import (
    decisions,
    features,
    harmonized,
    labels,
    models,
    monitoring,
    raw,
    scores,
)
from intel_platform.churn.monitoring import SENSORS as retrain_sensors
from intel_platform.churn.sensors import SENSORS as landing_sensors
from intel_platform.core.automation import keys
from intel_platform.core.location import product_location

LAYERS = [raw, harmonized, labels, features, models, scores, decisions, monitoring]
DAILY_HISTORY = dg.AssetSelection.groups("churn_raw", "churn_harmonized")
EAGER = dg.AssetSelection.groups("churn_harmonized")  # the latest day follows its raw day
# Snapshots are weekly, data daily: labels and features follow each new day (the scoring
# snapshot moves with it), scores and outreach follow them, monitoring re-judges every day.
FOLLOWS = keys(
    "churn/labels/churn_label",
    "churn/features/customer_snapshot",
    "churn/scores/customer_risk",
    "churn/decisions/outreach",
    "churn/monitoring/feature_drift",
    "churn/monitoring/realized_churn",
)
FRESH = keys(
    "churn/raw/usage_events",
    "churn/harmonized/usage_events",
    "churn/features/customer_snapshot",
    "churn/scores/customer_risk",
    "churn/decisions/outreach",
)
WEEKLY_RETRAIN = dg.ScheduleDefinition(
    name="churn_weekly_retrain",
    cron_schedule="0 3 * * 1",  # Monday night: the week's snapshot has landed
    target=keys("churn/models/logistic", "churn/models/lightgbm"),
    tags={"retrain_reason": "schedule"},
    run_config={"ops": {"churn_models": {"config": {"retrain_reason": "schedule"}}}},
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


@dg.definitions
def defs() -> dg.Definitions:
    """Assembled like every product's location (``core.location``)."""
    return product_location(
        "churn", LAYERS, schedules=[WEEKLY_RETRAIN], sensors=[*landing_sensors, *retrain_sensors],
        eager=EAGER, follows=FOLLOWS, fresh=FRESH, history=DAILY_HISTORY,
    )  # fmt: skip
