"""The churn code location: loads, reloads and deploys without the demand product."""

import os

import dagster as dg

from intel_platform.churn import harmonized, raw
from intel_platform.core.alerts import (
    build_check_failure_alert_sensor,
    build_run_failure_alert_sensor,
)
from intel_platform.core.automation import keys, with_automation
from intel_platform.core.freshness import build_freshness_alert_sensor
from intel_platform.core.home import ProjectHome
from intel_platform.core.resources import ENV_VAR, platform_resources

LAYERS = [raw, harmonized]
DAILY_HISTORY = dg.AssetSelection.groups("churn_raw", "churn_harmonized")
EAGER = dg.AssetSelection.groups("churn_harmonized")  # the latest day follows its raw day
FOLLOWS = keys()
FRESH = keys("churn/raw/usage_events", "churn/harmonized/usage_events")
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
        sensors=[*ALERT_SENSORS],
        resources=platform_resources(env, ProjectHome.resolve()),
        executor=dg.in_process_executor if env == "local" else dg.multiprocess_executor,
    )
    return with_automation(
        location, eager=EAGER, follows=FOLLOWS, fresh=FRESH, history=DAILY_HISTORY
    )
