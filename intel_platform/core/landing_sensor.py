"""What a landing-zone sensor needs whatever the product: which days changed, cheaply, what a
day's files look like (a fingerprint), and a cursor that remembers what was already requested.

Why not just rescan everything each tick: a sensor ticks every 30 s for years, and Dagster stores
the cursor with every tick, so both the scan and the cursor must stay proportional to the recent
window, not to the history. The scan therefore takes one *change stamp* per day (one ``stat`` of
a day folder or a daily file) and opens only the days that are in the recent window or whose
stamp moved since the previous scan; the cursor keeps fingerprints for those days only.

The stamp is ``max(mtime, ctime)``. Publishing (write ``<name>.part``, rename, see
``core.landing``) changes the ctime of the renamed file and the mtime and ctime of its folder, and
no copy tool can set a ctime back (``cp -p`` and ``rsync -t`` do restore mtimes), so a file
landing late for a five-year-old day still moves that day's stamp. What a stamp cannot see is a
file rewritten in place inside a day folder without the ``.part`` rename: that breaks the
landing contract, and is still caught within the recent window, which is always re-read.

Shared by every product's landing sensor: the scan (``day_stamps``, ``scan_days``), the plan
(``LandingPlan``) and the run request (``day_run_request``); what makes a day complete (every
open store's POS file, a usage file) is the product's.
"""

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg

from intel_platform.core.landing import IN_FLIGHT_SUFFIX

__all__ = [
    "CHANGE_SLACK_NS",
    "DayScan",
    "DaySource",
    "LandingCursor",
    "LandingPlan",
    "change_stamp",
    "changed_days",
    "dated_entries",
    "day_run_request",
    "day_stamps",
    "fingerprint",
    "listed_days",
    "plan_days",
    "open_partitions",
    "recent_window",
    "scan_days",
]

# Days whose stamp is at most this much older than the previous scan are read again: it absorbs
# coarse file-system clocks and the skew between a file server's clock and the sensor's.
CHANGE_SLACK_NS = 120 * 1_000_000_000
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def change_stamp(path: Path) -> int:
    """Latest of mtime and ctime in ns (0 when absent): when ``path`` last changed, including
    an entry renamed into it for a folder. ctime is kept because copy tools restore mtimes."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return 0
    return max(stat.st_mtime_ns, stat.st_ctime_ns)


def dated_entries(folder: Path, suffix: str = "") -> dict[date, Path]:
    """Children of ``folder`` named ``<YYYY-MM-DD><suffix>``, by day, from one listing.

    Anything else (notes, ``.part`` files in flight, ``2024-3-4``) is not a day and is skipped,
    so a stray file cannot break the sensor."""
    if not folder.is_dir():
        return {}
    entries = {}
    with os.scandir(folder) as listing:
        for entry in listing:
            if entry.name.endswith(IN_FLIGHT_SUFFIX) or not entry.name.endswith(suffix):
                continue
            stem = entry.name[: len(entry.name) - len(suffix)]
            if _ISO_DAY.fullmatch(stem):
                try:
                    entries[date.fromisoformat(stem)] = Path(entry.path)
                except ValueError:  # 2024-02-30
                    continue
    return entries


def fingerprint(files: Iterable[Path], root: Path) -> str:
    """sha256 of the sorted (path under ``root``, size, mtime_ns) of ``files``.

    Metadata, not content: reading every file each tick would cost what ingestion costs. The
    price is that a file re-dropped with identical bytes but a new mtime counts as new; the
    re-ingest it causes is idempotent (a partition is replaced, never appended to)."""
    rows = []
    for path in files:
        stat = path.stat()
        rows.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    return hashlib.sha256(json.dumps(sorted(rows)).encode()).hexdigest()


def changed_days(
    stamps: Mapping[date, int], since_ns: int, slack_ns: int = CHANGE_SLACK_NS
) -> set[date]:
    """Days whose stamp is not older than ``since_ns - slack_ns`` (the previous scan's start)."""
    return {day for day, stamp in stamps.items() if stamp >= since_ns - slack_ns}


@dataclass(frozen=True)
class LandingCursor:
    """What a landing sensor remembers between ticks, serialized as JSON.

    ``fingerprints``: ISO day -> fingerprint of the files last requested for it, kept only for
    the days read by the last scan (the window and the changed days), so the cursor stays small.
    ``scanned_ns``: wall clock when the last scan started; stamps newer than it (less the slack)
    mark changed days. ``None`` before the first tick: then only the window and the days changed
    within the slack are read; older history is a backfill's job, not a sensor's.

    Invariant that prevents duplicates: a day read at one tick is kept in the cursor, and a day
    dropped from it is read again only when its stamp moves (see ``changed_days``)."""

    fingerprints: dict[str, str] = field(default_factory=dict)
    scanned_ns: int | None = None

    def to_json(self) -> str:
        return json.dumps(
            {"fingerprints": dict(sorted(self.fingerprints.items())), "scanned_ns": self.scanned_ns}
        )

    @classmethod
    def from_json(cls, text: str | None) -> "LandingCursor":
        """Parse a cursor; ``None`` or ``""`` is a fresh sensor. A cursor set by hand to
        something else fails loudly, as guessing could launch or suppress runs."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            prints, scanned = data["fingerprints"], data["scanned_ns"]
            valid = isinstance(prints, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in prints.items()
            )
            if not valid or not (scanned is None or isinstance(scanned, int)):
                raise TypeError("fingerprints must map days to strings, scanned_ns an int")
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"Unreadable landing sensor cursor ({error}): reset the sensor's cursor."
            ) from error
        return cls(fingerprints=prints, scanned_ns=scanned)


def day_stamps(root: Path, sources: Iterable[tuple[str, str]]) -> dict[date, int]:
    """Change stamp per landed day over ``sources`` = (folder under ``root``, suffix): ``""``
    for a folder per day, e.g. ``".csv"`` for a file per day. One listing per source and one
    ``stat`` per day entry, never a listing of every file of the history."""
    stamps: dict[date, int] = {}
    for folder, suffix in sources:
        for day, path in dated_entries(root / folder, suffix).items():
            stamps[day] = max(stamps.get(day, 0), change_stamp(path))
    return stamps


def open_partitions(partitions: dg.DailyPartitionsDefinition, now: datetime) -> tuple[date, date]:
    """First and last day whose daily partition exists at ``now``: today's opens at midnight."""
    with dg.partition_loading_context(effective_dt=now):
        first, last = partitions.get_first_partition_key(), partitions.get_last_partition_key()
    return date.fromisoformat(first), date.fromisoformat(last)


def recent_window(landed: Iterable[date], size: int) -> list[date]:
    """The last ``size`` calendar days up to the latest landed day, not before the first: a
    day in it with no file at all is a day a source still owes."""
    days = sorted(landed)
    if not days:
        return []
    start = max(days[-1] - timedelta(days=size - 1), days[0])
    return [start + timedelta(days=i) for i in range((days[-1] - start).days + 1)]


@dataclass(frozen=True)
class DayScan:
    """The days one tick reads (window and changed days, partitions open), the landed days
    whose partition is not open yet, and the cursor the tick starts from (no fingerprints:
    the caller adds one per day it judged)."""

    days: list[date]
    not_open: list[date]
    cursor: LandingCursor


def scan_days(
    stamps: Mapping[date, int],
    cursor: LandingCursor,
    partitions: dg.DailyPartitionsDefinition,
    *,
    now: datetime,
    window_days: int,
    slack_ns: int = CHANGE_SLACK_NS,
) -> DayScan:
    """What to read this tick (module docstring): days outside the open partitions are never
    read, those after the last one are reported; a fresh cursor reads the window and what
    changed within the slack."""
    first, last = open_partitions(partitions, now)
    eligible = {day: stamp for day, stamp in stamps.items() if first <= day <= last}
    now_ns = int(now.timestamp() * 1e9)
    since = cursor.scanned_ns if cursor.scanned_ns is not None else now_ns
    scan = set(recent_window(eligible, window_days)) | changed_days(eligible, since, slack_ns)
    not_open = sorted(day for day in stamps if day > last)
    return DayScan(sorted(scan), not_open, LandingCursor(scanned_ns=now_ns))


@dataclass
class LandingPlan:
    """One tick's outcome: what to run, what to remember, and what to tell on-call."""

    cursor: LandingCursor
    requests: list[dg.RunRequest] = field(default_factory=list)
    waiting: dict[date, list[str]] = field(default_factory=dict)  # day -> what it waits for
    not_open: list[date] = field(default_factory=list)  # landed, partition not there yet


def day_run_request(
    day: date,
    digest: str,
    asset_selection: Sequence[dg.AssetKey],
    tags: Mapping[str, str],
) -> dg.RunRequest:
    """One run per day and file set: ``run_key = "<day>:<fingerprint[:12]>"`` makes a repeat
    of the same files a no-op even after a lost cursor (the daemon skips known run keys)."""
    return dg.RunRequest(
        run_key=f"{day.isoformat()}:{digest[:12]}",
        partition_key=day.isoformat(),
        asset_selection=list(asset_selection),
        tags=dict(tags),
    )


@dataclass(frozen=True)
class DaySource:
    """What a product tells the shared planner about its landing zone: ``lacking(day)`` lists
    what a day still waits for (``[]``: complete; ``None``: nothing to ingest yet, quietly),
    ``files(day)`` the landed files its run reads, fingerprinted against ``root``; each
    complete changed day becomes a run of ``asset_keys`` tagged ``tags``."""

    root: Path
    lacking: Callable[[date], list[str] | None]
    files: Callable[[date], list[Path]]
    asset_keys: Sequence[dg.AssetKey]
    tags: Mapping[str, str]


def plan_days(scan: DayScan, cursor: LandingCursor, source: DaySource) -> LandingPlan:
    """Judge each scanned day: request it when complete and its fingerprint differs from the
    cursor's. An incomplete day keeps the cursor's fingerprint, so its completion (or the fix
    of a day that became incomplete) still triggers, and a re-drop of identical files never
    does."""
    plan = LandingPlan(scan.cursor, not_open=scan.not_open)
    for day in scan.days:
        iso, last = day.isoformat(), cursor.fingerprints.get(day.isoformat())
        if last is not None:
            plan.cursor.fingerprints[iso] = last
        lacking = source.lacking(day)
        if lacking:
            plan.waiting[day] = lacking
        if lacking is None or lacking:
            continue
        digest = fingerprint(source.files(day), source.root)
        if digest != last:
            plan.requests.append(day_run_request(day, digest, source.asset_keys, source.tags))
        plan.cursor.fingerprints[iso] = digest
    return plan


def listed_days(days: Sequence[date], describe: Callable[[date], str], limit: int = 8) -> str:
    """``describe`` of the first ``limit`` days for a skip message; the rest are counted."""
    shown = [describe(day) for day in days[:limit]]
    more = f" and {len(days) - limit} more" if len(days) > limit else ""
    return "; ".join(shown) + more


def landing_status(plan: LandingPlan, missing: str) -> str:
    """What a landing sensor waits for, in on-call's terms: each incomplete day with what it
    waits for (``missing`` names the kind, e.g. "POS files"), then landed days whose partition
    is not open yet."""
    parts = []
    if plan.waiting:
        days = sorted(plan.waiting)
        listed = listed_days(days, lambda d: f"{d} waits for {', '.join(plan.waiting[d])}")
        parts.append(f"Incomplete days ({missing} missing): {listed}.")
    if plan.not_open:
        parts.append(
            f"Landed, partition not open yet (midnight UTC): {listed_days(plan.not_open, str)}."
        )
    return " ".join(parts)


def landing_result(
    context: dg.SensorEvaluationContext, plan: LandingPlan, status: str
) -> dg.SensorResult:
    """The tick's runs with the new cursor, or why there were none."""
    if plan.requests:
        days = ", ".join(r.partition_key or "" for r in plan.requests)
        context.log.info(f"Requesting ingestion of {days}. {status}".strip())
        return dg.SensorResult(run_requests=plan.requests, cursor=plan.cursor.to_json())
    return dg.SensorResult(
        skip_reason=status or "No new or changed complete day.", cursor=plan.cursor.to_json()
    )
