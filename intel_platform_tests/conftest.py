"""Every test runs against its own project home in a temp dir: nothing is written elsewhere."""

import warnings
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from intel_platform.core.home import HOME_ENV_VAR, ProjectHome

warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProjectHome:
    monkeypatch.setenv(HOME_ENV_VAR, str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster_home"))
    monkeypatch.delenv("INTEL_PLATFORM_ENV", raising=False)
    return ProjectHome.resolve().ensure()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """In-memory storage: a SQLite instance pays ~10 ms of fsync per event, and a range run
    writes one materialization per partition per asset (the demo and the UI do use SQLite)."""
    yield dg.DagsterInstance.ephemeral()
