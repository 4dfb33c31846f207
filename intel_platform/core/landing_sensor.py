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
"""

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from intel_platform.core.landing import IN_FLIGHT_SUFFIX

__all__ = [
    "CHANGE_SLACK_NS",
    "LandingCursor",
    "change_stamp",
    "changed_days",
    "dated_entries",
    "fingerprint",
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
