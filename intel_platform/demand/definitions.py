"""The demand forecasting code location: ``dagster dev -w workspace.yaml`` loads it alone."""

import os

import dagster as dg

from intel_platform.core.home import ProjectHome
from intel_platform.core.resources import ENV_VAR, platform_resources
from intel_platform.demand import decisions, features, forecasts, harmonized, models, raw

LAYERS = [raw, harmonized, features, models, forecasts, decisions]


@dg.definitions
def defs() -> dg.Definitions:
    """Resources by ``INTEL_PLATFORM_ENV`` (read at load, not import). Locally one process
    runs the steps of a run: the DuckDB file takes one writer at a time."""
    env = os.getenv(ENV_VAR, "local")
    return dg.Definitions(
        assets=dg.load_assets_from_modules(
            [raw, harmonized, features, models, forecasts, decisions]
        ),
        resources=platform_resources(env, ProjectHome.resolve()),
        executor=dg.in_process_executor if env == "local" else dg.multiprocess_executor,
    )
