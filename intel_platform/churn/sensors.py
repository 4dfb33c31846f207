"""The churn landing sensor: a complete new day, or a changed one, becomes one ingest run.

A day is *complete* when its usage file has landed (``landing/churn/usage/<day>.jsonl``):
usage is the one source every churn setup has; subscriptions and tickets are optional and
ride along when they are there (``churn.landing``). A day with only billing or help-desk files
waits, named, for its usage file. Per day (the cursor is ``core.landing_sensor.LandingCursor``):

* the fingerprint of its landed files (usage, subscriptions, tickets; ``.part`` ignored)
  differs from the one requested last -> one ``RunRequest`` over the raw and harmonized churn
  tables of that day's partition, ``run_key = "<day>:<fingerprint[:12]>"``, so even a lost
  cursor cannot launch the same files twice;
* the same files again -> nothing; a late or corrected file (a tickets export landing after
  the usage file, a re-dropped usage file) -> that day once more. Re-ingesting is idempotent.

Each tick reads the last ``WINDOW_DAYS`` landed calendar days plus the days whose files
changed since the previous tick (``core.landing_sensor.scan_days``); history is a backfill's
job. Days before the partitions start are ignored; today's partition opens at midnight UTC.
"""

from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import dagster as dg

from intel_platform.churn import landing
from intel_platform.churn.partitions import DAILY
from intel_platform.core import landing_sensor
from intel_platform.core.home import ProjectHome
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

WINDOW_DAYS = 14

SOURCES = ("usage_events", "subscription_events", "tickets")
RAW, HARMONIZED = ["churn", "raw"], ["churn", "harmonized"]
INGEST_KEYS = [
    *(dg.AssetKey([*RAW, name]) for name in SOURCES),
    *(dg.AssetKey([*HARMONIZED, name]) for name in SOURCES),
    *(dg.AssetKey([*HARMONIZED, f"{name}_quarantine"]) for name in SOURCES),
]
INGEST_SELECTION = dg.AssetSelection.assets(*INGEST_KEYS)
RUN_TAGS = {"retrain_reason": "new_data", "intel/trigger": "landing"}
# (folder, suffix) of each source's daily file under landing/churn; usage first: required.
LANDED = ((landing.USAGE, ".jsonl"), (landing.SUBSCRIPTIONS, ".csv"), (landing.TICKETS, ".parquet"))


def day_files(home: ProjectHome, day: date) -> list[Path]:
    """The landed files of ``day`` (published ones only: a ``.part`` has another name)."""
    daily = [
        landing.usage_file(home, day),
        landing.subscriptions_file(home, day),
        landing.tickets_file(home, day),
    ]
    return [path for path in daily if path.is_file()]


def day_stamps(home: ProjectHome) -> dict[date, int]:
    """Change stamp per landed day: one listing per source folder, one ``stat`` per file."""
    return landing_sensor.day_stamps(landing.landing_root(home), LANDED)


def plan_landing(
    home: ProjectHome,
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
        lacking=partial(_lacking, home),
        files=partial(day_files, home),
        asset_keys=INGEST_KEYS,
        tags=RUN_TAGS,
    ))  # fmt: skip


def _lacking(home: ProjectHome, day: date) -> list[str]:
    """A day is complete once its usage file landed; billing and tickets are optional."""
    usage = landing.usage_file(home, day)
    return [] if usage.is_file() else [f"{landing.USAGE}/{usage.name}"]


def status_message(plan: LandingPlan) -> str:
    """What the sensor waits for, in on-call's terms: the missing usage file, or the partition."""
    return landing_status(plan, "usage file")


@dg.sensor(
    asset_selection=INGEST_SELECTION,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    owners=["team:churn"],
)
def churn_landing_sensor(
    context: dg.SensorEvaluationContext, project_home: ProjectHomeResource
) -> dg.SensorResult:
    """Ingest and harmonize each new or changed day of the churn landing zone that has its
    usage file, one run per day; days still missing it are named."""
    cursor = LandingCursor.from_json(context.cursor)
    plan = plan_landing(project_home.home, cursor, now=datetime.now(UTC))
    return landing_result(context, plan, status_message(plan))


SENSORS = [churn_landing_sensor]
