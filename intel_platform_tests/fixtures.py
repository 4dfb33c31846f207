"""Small generated landing zones and helpers to inject the failure stories into them."""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from intel_platform.core.home import ProjectHome
from intel_platform.core.landing import publish
from intel_platform.core.runs import check_results, materialize_days
from intel_platform.demand import landing
from intel_platform.demand.definitions import defs as demand_defs
from intel_platform.demand.generate import generate_demand

START = date(2024, 3, 4)  # a Monday
DAILY_SCHEMA = {  # daily demand as features.daily_demand delivers it (ids as text here)
    "store_id": pl.String,
    "item_id": pl.String,
    "date": pl.Date,
    "units": pl.Int32,
    "price_per_unit": pl.Float32,
    "promo": pl.Boolean,
    "is_open": pl.Boolean,
}
SMALL = {"stores": 3, "items": 30, "days": 14, "start": START, "seed": 11}


def small_demand(home: ProjectHome, **overrides) -> date:
    """Generate a small demand landing zone; returns its last day."""
    shape = {**SMALL, **overrides}
    generate_demand(home, **shape)
    return shape["start"] + timedelta(days=shape["days"] - 1)


FOUNDATION = "group:demand_raw or group:demand_harmonized"


def run_demand(
    instance: dg.DagsterInstance, first: date, last: date, selection: str = FOUNDATION
) -> dg.ExecuteInProcessResult:
    """Raw and harmonized layers by default: two weeks of data are too short to train on."""
    return materialize_days(demand_defs(), instance, first, last, selection=selection)


def checks_by_name(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {c.check_name: c for c in check_results(result)}


def query(home: ProjectHome, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        return conn.execute(sql).pl()


def rewrite_csv(path: Path, change) -> None:
    """Apply ``change`` (frame -> frame) to a landing CSV, keeping every value as text."""
    frame = change(pl.read_csv(path, infer_schema=False))
    publish(path, frame.write_csv)


def pos_files(home: ProjectHome, day: date) -> list[Path]:
    return sorted(landing.pos_file(home, day, "x").parent.glob("*.csv"))
