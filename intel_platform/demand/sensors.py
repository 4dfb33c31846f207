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

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from intel_platform.core.home import ProjectHome
from intel_platform.core.landing import day_folder, landed_files
from intel_platform.core.landing_sensor import (
    CHANGE_SLACK_NS,
    LandingCursor,
    change_stamp,
    changed_days,
    dated_entries,
    fingerprint,
)
from intel_platform.core.resources import ProjectHomeResource
from intel_platform.demand import landing
from intel_platform.demand.contracts import STORES
from intel_platform.demand.partitions import DAILY

WINDOW_DAYS = 14
_LISTED_DAYS = 8  # days named in a skip message; the rest are counted

RAW, HARMONIZED = ["demand", "raw"], ["demand", "harmonized"]
DAY_KEYS = [
    *(dg.AssetKey([*RAW, name]) for name in ("pos_sales", "ecom_orders", "inventory")),
    *(
        dg.AssetKey([*HARMONIZED, name])
        for name in ("sales", "sales_quarantine", "inventory", "inventory_quarantine")
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
    root = landing.landing_root(home)
    sources = [
        (landing.POS_SALES, ""),
        (landing.ECOM_ORDERS, ".jsonl"),
        (landing.INVENTORY, ".parquet"),
    ]
    stamps: dict[date, int] = {}
    for folder, suffix in sources:
        for day, path in dated_entries(root / folder, suffix).items():
            stamps[day] = max(stamps.get(day, 0), change_stamp(path))
    return stamps


def open_partitions(now: datetime) -> tuple[date, date]:
    """First and last day whose daily partition exists at ``now``: today's opens at midnight."""
    with dg.partition_loading_context(effective_dt=now):
        first, last = DAILY.get_first_partition_key(), DAILY.get_last_partition_key()
    return date.fromisoformat(first), date.fromisoformat(last)


def _window(landed: Iterable[date], size: int) -> list[date]:
    """The last ``size`` calendar days up to the latest landed day, not before the first: a
    day in it with no file at all is a day the stores still owe."""
    days = sorted(landed)
    if not days:
        return []
    start = max(days[-1] - timedelta(days=size - 1), days[0])
    return [start + timedelta(days=i) for i in range((days[-1] - start).days + 1)]


@dataclass
class LandingPlan:
    """One tick's outcome: what to run, what to remember, and what to tell on-call."""

    cursor: LandingCursor
    requests: list[dg.RunRequest] = field(default_factory=list)
    waiting: dict[date, list[str]] = field(default_factory=dict)  # day -> stores not yet in
    not_open: list[date] = field(default_factory=list)  # landed, partition not there yet


def run_request(day: date, digest: str) -> dg.RunRequest:
    """One run per day and file set: the run key makes a repeat of the same files a no-op."""
    return dg.RunRequest(
        run_key=f"{day.isoformat()}:{digest[:12]}",
        partition_key=day.isoformat(),
        asset_selection=INGEST_KEYS,
        tags=RUN_TAGS,
    )


def _judge_day(
    plan: LandingPlan, home: ProjectHome, expected: list[str], day: date, last: str | None
) -> None:
    """Request ``day`` if complete and its fingerprint differs from ``last`` (the cursor's);
    the cursor keeps ``last`` for a day that became incomplete, so its fix still triggers."""
    iso = day.isoformat()
    if last is not None:
        plan.cursor.fingerprints[iso] = last
    arrived = {path.stem for path in pos_files(home, day)}
    missing = [store for store in expected if store not in arrived]
    if missing:
        plan.waiting[day] = missing
    if missing or not expected:  # no store open yet: nothing the raw layer could ingest
        return
    digest = fingerprint(day_files(home, day), landing.landing_root(home))
    if digest != last:
        plan.requests.append(run_request(day, digest))
    plan.cursor.fingerprints[iso] = digest


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
    first, last = open_partitions(now)
    stamps = day_stamps(home)
    eligible = {day: stamp for day, stamp in stamps.items() if first <= day <= last}
    now_ns = int(now.timestamp() * 1e9)
    since = cursor.scanned_ns if cursor.scanned_ns is not None else now_ns
    plan = LandingPlan(LandingCursor(scanned_ns=now_ns))
    plan.not_open = sorted(day for day in stamps if day > last)
    scan = set(_window(eligible, window_days)) | changed_days(eligible, since, slack_ns)
    for day in sorted(scan):
        expected = expected_stores(openings, day)
        _judge_day(plan, home, expected, day, cursor.fingerprints.get(day.isoformat()))
    return plan


def _listed(days: list[date], describe: Callable[[date], str]) -> str:
    shown = [describe(day) for day in days[:_LISTED_DAYS]]
    more = f" and {len(days) - _LISTED_DAYS} more" if len(days) > _LISTED_DAYS else ""
    return "; ".join(shown) + more


def status_message(plan: LandingPlan) -> str:
    """What the sensor waits for, in on-call's terms: day and store ids, or the partition."""
    parts = []
    if plan.waiting:
        days = sorted(plan.waiting)
        listed = _listed(days, lambda d: f"{d} waits for {', '.join(plan.waiting[d])}")
        parts.append(f"Incomplete days (POS files missing): {listed}.")
    if plan.not_open:
        listed = _listed(plan.not_open, str)
        parts.append(f"Landed, partition not open yet (midnight UTC): {listed}.")
    return " ".join(parts)


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
    if plan.requests:
        days = ", ".join(r.partition_key or "" for r in plan.requests)
        context.log.info(f"Requesting ingestion of {days}. {status}".strip())
        return dg.SensorResult(run_requests=plan.requests, cursor=plan.cursor.to_json())
    if openings.is_empty():
        status = f"{landing.stores_file(home)} lists no store with an open_date. {status}"
    return dg.SensorResult(
        skip_reason=status or "No new or changed complete day.", cursor=plan.cursor.to_json()
    )


SENSORS = [demand_landing_sensor]
