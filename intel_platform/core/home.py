"""The project home: one folder that holds every piece of local state.

Landing files, the DuckDB warehouse, the Dagster instance and the MLflow store all live under
``INTEL_PLATFORM_HOME`` (default ``.intel_home`` in the working directory), so a demo, a test
or a scale check is one folder to inspect or delete, and no test writes anywhere else.
"""

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV_VAR = "INTEL_PLATFORM_HOME"
DEFAULT_HOME = ".intel_home"


@dataclass(frozen=True)
class ProjectHome:
    """Paths of the project home; creating the object touches no disk."""

    root: Path

    @classmethod
    def resolve(cls, explicit: str | os.PathLike[str] | None = None) -> "ProjectHome":
        """An explicit path wins, then ``INTEL_PLATFORM_HOME``, then ``./.intel_home``."""
        chosen = explicit or os.environ.get(HOME_ENV_VAR) or DEFAULT_HOME
        return cls(Path(chosen).expanduser().resolve())

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def mlflow(self) -> Path:
        return self.root / "mlflow"

    @property
    def mappings(self) -> Path:
        """User-extensible mapping tables (new category spellings), merged with shipped ones."""
        return self.root / "mappings"

    def ensure(self) -> "ProjectHome":
        for folder in (self.landing, self.dagster_home, self.mlflow, self.mappings):
            folder.mkdir(parents=True, exist_ok=True)
        return self
