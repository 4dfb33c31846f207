"""Resources shared by every product, chosen by environment at definitions load time."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from intel_platform.core.home import ProjectHome
from intel_platform.core.registry import MlflowTarget, mlflow_target

ENV_VAR = "INTEL_PLATFORM_ENV"


class ProjectHomeResource(dg.ConfigurableResource):
    """Where landing files and user mapping tables live (see ``core.home``)."""

    path: str

    @property
    def home(self) -> ProjectHome:
        return ProjectHome(Path(self.path))


class MlflowResource(dg.ConfigurableResource):
    """Where models are tracked and registered: the project home's SQLite store by default,
    or ``tracking_uri`` (an MLflow server) when set."""

    home: str
    tracking_uri: str | None = None

    def target(self, experiment: str) -> MlflowTarget:
        return mlflow_target(experiment, ProjectHome(Path(self.home)), uri=self.tracking_uri)


def platform_resources(env: str, home: ProjectHome) -> dict[str, dg.ConfigurableResource]:
    """``local``: a DuckDB file in the project home. ``prod``: the warehouse named by
    ``INTEL_WAREHOUSE_DATABASE`` (a DuckDB path or a MotherDuck ``md:`` URL) and the landing
    zone by ``INTEL_PLATFORM_HOME``, MLflow by ``INTEL_MLFLOW_TRACKING_URI``, all resolved at
    run time, never stored in the repo."""
    if env == "prod":
        return {
            "warehouse": DuckDBResource(database=dg.EnvVar("INTEL_WAREHOUSE_DATABASE")),
            "project_home": ProjectHomeResource(path=dg.EnvVar("INTEL_PLATFORM_HOME")),
            "mlflow": MlflowResource(
                home=dg.EnvVar("INTEL_PLATFORM_HOME"),
                tracking_uri=dg.EnvVar("INTEL_MLFLOW_TRACKING_URI"),
            ),
        }
    if env != "local":
        raise ValueError(f"{ENV_VAR} must be 'local' or 'prod', got {env!r}")
    return {
        "warehouse": DuckDBResource(database=str(home.warehouse)),
        "project_home": ProjectHomeResource(path=str(home.root)),
        "mlflow": MlflowResource(home=str(home.root)),
    }
