"""A data product's code location, assembled the same way for every product: its layers'
assets, its schedules and sensors plus on-call's three alert sensors, resources by
environment, and automation and freshness by asset selection."""

import os
from collections.abc import Sequence
from types import ModuleType

import dagster as dg

from intel_platform.core.alert_sensors import (
    build_check_failure_alert_sensor,
    build_run_failure_alert_sensor,
)
from intel_platform.core.automation import with_automation
from intel_platform.core.freshness import build_freshness_alert_sensor
from intel_platform.core.home import ProjectHome
from intel_platform.core.resources import ENV_VAR, platform_resources


def alert_sensors(product: str) -> list[dg.SensorDefinition]:
    """On-call: a failed run, a failed check even when its run stayed green, a stale table."""
    return [
        build_run_failure_alert_sensor(product),
        build_check_failure_alert_sensor(product),
        build_freshness_alert_sensor(product),
    ]


def product_location(
    product: str,
    layers: Sequence[ModuleType],
    *,
    schedules: Sequence[dg.ScheduleDefinition],
    sensors: Sequence[dg.SensorDefinition],
    eager: dg.AssetSelection,
    follows: dg.AssetSelection,
    fresh: dg.AssetSelection,
    history: dg.AssetSelection,
) -> dg.Definitions:
    """Resources by ``INTEL_PLATFORM_ENV``, read when the location loads (not at import).
    Locally one process runs the steps of a run: the DuckDB file takes one writer at a time."""
    env = os.getenv(ENV_VAR, "local")
    location = dg.Definitions(
        assets=dg.load_assets_from_modules(list(layers)),
        schedules=list(schedules),
        sensors=[*sensors, *alert_sensors(product)],
        resources=platform_resources(env, ProjectHome.resolve()),
        executor=dg.in_process_executor if env == "local" else dg.multiprocess_executor,
    )
    return with_automation(location, eager=eager, follows=follows, fresh=fresh, history=history)
