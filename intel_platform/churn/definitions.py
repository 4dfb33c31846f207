"""The churn code location: loads, reloads and deploys without the demand product."""

import os

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
from intel_platform.core.alerts import (
    build_check_failure_alert_sensor,
    build_run_failure_alert_sensor,
)
from intel_platform.core.automation import keys, with_automation
from intel_platform.core.freshness import build_freshness_alert_sensor
from intel_platform.core.home import ProjectHome
from intel_platform.core.resources import ENV_VAR, platform_resources

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
ALERT_SENSORS = [
    build_run_failure_alert_sensor("churn"),
    build_check_failure_alert_sensor("churn"),
    build_freshness_alert_sensor("churn"),
]


@dg.definitions
def defs() -> dg.Definitions:
    """Resources by ``INTEL_PLATFORM_ENV`` (read at load, not import); locally one process
    runs a run's steps, as the DuckDB file takes one writer at a time."""
    env = os.getenv(ENV_VAR, "local")
    location = dg.Definitions(
        assets=dg.load_assets_from_modules(LAYERS),
        schedules=[WEEKLY_RETRAIN],
        sensors=[*landing_sensors, *retrain_sensors, *ALERT_SENSORS],
        resources=platform_resources(env, ProjectHome.resolve()),
        executor=dg.in_process_executor if env == "local" else dg.multiprocess_executor,
    )
    return with_automation(
        location, eager=EAGER, follows=FOLLOWS, fresh=FRESH, history=DAILY_HISTORY
    )
