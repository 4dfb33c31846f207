"""The demand landing sensor: a complete new day, or a changed one, becomes one ingest run.

A day is *complete* when every store the store list says is open has dropped its POS file: a
day with a store missing is not ingested half (the late-store story, DOMAIN.md), and the
sensor names the stores it waits for. A complete day is requested again whenever its files
change (a late or corrected file), so "rematerialize once when the late file lands" needs no
one at 3 a.m. Re-ingesting a day is idempotent: raw replaces the partition, harmonized moves
rows between the table and its quarantine.

What triggers, per day (the cursor is ``core.landing_sensor.LandingCursor``):

* the fingerprint of its landed files (POS, web orders, inventory; ``.part`` ignored) differs
  from the one requested last -> one ``RunRequest``, ``run_key = "<day>:<fingerprint[:12]>"``,
  so even a lost cursor cannot launch the same files twice (the daemon skips known run keys);
* the same files again, or a daemon restart with its cursor -> nothing;
* a file re-dropped with identical bytes but a new mtime -> one idempotent re-ingest (the
  fingerprint is metadata: reading every file each tick would cost what ingestion costs).

Each tick reads only the last ``WINDOW_DAYS`` calendar days up to the latest landed day, plus
the days whose change stamp (folder or file ctime/mtime, see ``core.landing_sensor``) moved
since the previous tick; a fresh sensor reads the window and whatever changed in the last
minutes, so a five-year landing zone launches 14 runs, not 1,800 (history is a backfill:
``intel-platform materialize``). Days before the partitions start are ignored, and a day whose
daily partition does not exist yet (today, in UTC) waits for the tick after midnight.
"""

from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import dagster as dg
import polars as pl

from intel_platform.core import landing_sensor
from intel_platform.core.home import ProjectHome
from intel_platform.core.landing import day_folder, landed_files
from intel_platform.core.landing_sensor import (
    CHANGE_SLACK_NS,
    DaySource,
    LandingCursor,
    LandingPlan,
    landing_result,
    landing_status,
    plan_days,
    scan_days,
)
from intel_platform.core.resources import ProjectHomeResource
from intel_platform.demand import landing
from intel_platform.demand.contracts import STORES
from intel_platform.demand.partitions import DAILY

WINDOW_DAYS = 14

RAW, HARMONIZED = ["demand", "raw"], ["demand", "harmonized"]
DAY_KEYS = [
    *(dg.AssetKey([*RAW, name]) for name in ("pos_sales", "ecom_orders", "inventory")),
    *(
        dg.AssetKey([*HARMONIZED, name])
        for name in (
            "sales",
            "sales_quarantine",
            "inventory",
            "inventory_quarantine",
            "daily_demand",
        )  # the day's grain rides along: eager only keeps the latest
    ),
]
# The store list and catalog ride along (a few hundred rows): the sensor judges completeness
# from catalog/stores.csv, so harmonizing against the same list keeps a newly opened store's
# first day from being quarantined as "unknown store" by a stale demand_harmonized.stores.
REFERENCE_KEYS = [
    *(dg.AssetKey([*RAW, name]) for name in ("products", "stores")),
    *(
        dg.AssetKey([*HARMONIZED, name])
        for name in ("products", "products_quarantine", "stores", "stores_quarantine")
    ),
]
INGEST_KEYS = [*REFERENCE_KEYS, *DAY_KEYS]
INGEST_SELECTION = dg.AssetSelection.assets(*INGEST_KEYS)
RUN_TAGS = {"retrain_reason": "new_data", "intel/trigger": "landing"}


def store_openings(path: Path) -> pl.DataFrame | None:
    """``store_id`` and ``open_date`` (a Date) of every store on the list, read with the same
    aliases as harmonization; ``None`` when there is no list. Rows without a readable opening
    date are quarantined downstream, so no file is expected from them here either."""
    if not path.is_file():
        return None
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError:  # an empty file: a list with no store on it
        raw = pl.DataFrame(schema=dict.fromkeys(landing.STORE_COLUMNS, pl.String))
    opened = pl.col("open_date").str.strip_chars().str.slice(0, 10)
    return (
        raw.select(STORES.canonical_columns(raw.columns))
        .select(
            store_id=pl.col("store_id").str.strip_chars(),
            open_date=opened.str.to_date("%Y-%m-%d", strict=False),
        )
        .drop_nulls()
        .unique("store_id", keep="first", maintain_order=True)
    )


def expected_stores(openings: pl.DataFrame, day: date) -> list[str]:
    """Stores open on ``day``: each must have sent ``pos_sales/<day>/<store_id>.csv``."""
    return sorted(openings.filter(pl.col("open_date") <= day)["store_id"].to_list())


def pos_files(home: ProjectHome, day: date) -> list[Path]:
    """The POS files of ``day`` that have fully landed (``.part`` excluded)."""
    return landed_files(day_folder(landing.landing_root(home), landing.POS_SALES, day), "*.csv")


def day_files(home: ProjectHome, day: date) -> list[Path]:
    """Every landed file the ingest run of ``day`` reads: POS, web orders, inventory."""
    daily = [landing.ecom_file(home, day), landing.inventory_file(home, day)]
    return pos_files(home, day) + [path for path in daily if path.is_file()]


def day_stamps(home: ProjectHome) -> dict[date, int]:
    """Change stamp per landed day: one listing per source folder and one ``stat`` per day
    folder or daily file, never a listing of every store file of the history."""
    sources = [
        (landing.POS_SALES, ""),
        (landing.ECOM_ORDERS, ".jsonl"),
        (landing.INVENTORY, ".parquet"),
    ]
    return landing_sensor.day_stamps(landing.landing_root(home), sources)


def plan_landing(
    home: ProjectHome,
    openings: pl.DataFrame,
    cursor: LandingCursor,
    *,
    now: datetime,
    window_days: int = WINDOW_DAYS,
    slack_ns: int = CHANGE_SLACK_NS,
) -> LandingPlan:
    """Read the window and the changed days, compare with the cursor (module docstring)."""
    scan = scan_days(
        day_stamps(home), cursor, DAILY, now=now, window_days=window_days, slack_ns=slack_ns
    )
    return plan_days(scan, cursor, DaySource(
        root=landing.landing_root(home),
        lacking=partial(_missing_stores, home, openings),
        files=partial(day_files, home),
        asset_keys=INGEST_KEYS,
        tags=RUN_TAGS,
    ))  # fmt: skip


def _missing_stores(home: ProjectHome, openings: pl.DataFrame, day: date) -> list[str] | None:
    """Open stores whose POS file has not landed; None before any store opened (nothing the
    raw layer could ingest)."""
    expected = expected_stores(openings, day)
    if not expected:
        return None
    arrived = {path.stem for path in pos_files(home, day)}
    return [store for store in expected if store not in arrived]


def status_message(plan: LandingPlan) -> str:
    """What the sensor waits for, in on-call's terms: day and store ids, or the partition."""
    return landing_status(plan, "POS files")


@dg.sensor(
    asset_selection=INGEST_SELECTION,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    owners=["team:demand"],
)
def demand_landing_sensor(
    context: dg.SensorEvaluationContext, project_home: ProjectHomeResource
) -> dg.SensorResult:
    """Ingest and harmonize each complete new or changed day of the demand landing zone, one
    run per day; incomplete days are named with the stores they wait for."""
    home = project_home.home
    openings = store_openings(landing.stores_file(home))
    if openings is None:
        return dg.SensorResult(
            skip_reason=f"{landing.stores_file(home)} is missing: without the store list no "
            "day can be known complete. Land catalog/stores.csv."
        )  # cursor unchanged: days that land meanwhile are still seen as changed
    cursor = LandingCursor.from_json(context.cursor)
    plan = plan_landing(home, openings, cursor, now=datetime.now(UTC))
    status = status_message(plan)
    if openings.is_empty() and not plan.requests:
        status = f"{landing.stores_file(home)} lists no store with an open_date. {status}"
    return landing_result(context, plan, status)


SENSORS = [demand_landing_sensor]
