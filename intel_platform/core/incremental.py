"""Incremental rebuilds of a table derived, point in time, from a daily table.

A point-in-time feature of day d reads nothing from days after d, so when the input changes
from day d0 on, only the rows of days >= d0 can change and the older rows are kept. The table
is a run of segments: day ranges written by one run each, as Parquet parts. A run keeps the
segments that end before the first changed day and recomputes the rest as one new segment.
The newest segment stays open until it spans ``open_days`` days, so a landing day rewrites at
most that many days instead of the whole history; a correction deep in history recomputes from
the start of the segment holding it.

What changed is read from per-day fingerprints of the input (row count and an order-free hash
of the rows), kept in the table's manifest beside the segments, and from the ``context`` the
rows were built with (per key, e.g. an item's category): a key whose context changed has its
rows recomputed from the key's first day, which the caller looks up. A new signature (the
feature rules) rebuilds everything, and a segment whose contract check failed is always
recomputed, so a bad segment never survives by being kept.
"""

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TypeVar

import duckdb

MANIFEST = "manifest.json"
K = TypeVar("K", date, str)


@dataclass(frozen=True)
class Segment:
    """Days [first, last] of the table, written by one run as ``parts``."""

    first: date
    last: date
    parts: tuple[str, ...]
    rows: int
    passed: bool = True

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass(frozen=True)
class Manifest:
    """What the live table was built from: signature, input fingerprints per day, segments."""

    signature: str
    inputs: Mapping[date, str]
    segments: tuple[Segment, ...] = ()
    context: Mapping[str, str] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(segment.rows for segment in self.segments)

    def to_json(self) -> str:
        return json.dumps(
            {
                "signature": self.signature,
                "inputs": {day.isoformat(): mark for day, mark in sorted(self.inputs.items())},
                "segments": [
                    {**asdict(s), "first": s.first.isoformat(), "last": s.last.isoformat()}
                    for s in self.segments
                ],
                "context": dict(sorted(self.context.items())),
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        raw = json.loads(text)
        segments = tuple(
            Segment(
                first=date.fromisoformat(s["first"]),
                last=date.fromisoformat(s["last"]),
                parts=tuple(s["parts"]),
                rows=int(s["rows"]),
                passed=bool(s["passed"]),
            )
            for s in raw["segments"]
        )
        inputs = {date.fromisoformat(day): str(p) for day, p in raw["inputs"].items()}
        context = {str(key): str(value) for key, value in raw["context"].items()}
        return cls(str(raw["signature"]), inputs, segments, context)

    def changed_keys(self, context: Mapping[str, str]) -> set[str]:
        """Keys whose context differs from the one the table was built with, or is new/gone."""
        return set(_differing(self.context, context))


def read_manifest(directory: Path) -> Manifest | None:
    """The live table's manifest; None when there is none or it cannot be read (a table from
    before manifests, or a damaged file): the caller then rebuilds, which is always safe."""
    try:
        return Manifest.from_json((directory / MANIFEST).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Plan:
    """What a run does: recompute from ``start`` (None: from the first input day) keeping
    ``keep``, or nothing at all (``recompute`` false, every segment kept)."""

    recompute: bool
    start: date | None
    keep: tuple[Segment, ...]
    reason: str


def plan(
    previous: Manifest | None,
    signature: str,
    inputs: Mapping[date, str],
    open_days: int,
    recoded_from: date | None = None,
) -> Plan:
    """The least recomputation that gives the same table as a full rebuild. ``recoded_from``:
    the first day of the rows whose context changed (``Manifest.changed_keys``)."""
    if previous is None:
        return Plan(True, None, (), "first build (no manifest): full build")
    if previous.signature != signature:
        return Plan(True, None, (), "the feature rules changed: full rebuild")
    changed = sorted(_differing(previous.inputs, inputs))
    failed = [segment.first for segment in previous.segments if not segment.passed]
    recoded = [recoded_from] if recoded_from else []
    if not changed and not failed and not recoded:
        return Plan(False, None, previous.segments, "inputs unchanged since the last build")
    first_change = min([*changed, *failed, *recoded])
    keep = tuple(segment for segment in previous.segments if segment.last < first_change)
    newest_open = keep == previous.segments and keep and keep[-1].days < open_days
    if newest_open:
        keep = keep[:-1]  # the open segment grows instead of a new one starting
    start = keep[-1].last + timedelta(days=1) if keep else None
    what = [f"{len(changed)} input day(s) changed from {min(changed)}"] if changed else []
    what += [f"rows recoded from {recoded_from}"] if recoded else []
    what += [f"segment from {min(failed)} failed its check"] if failed else []
    what = "; ".join(what)
    where = f"recomputing from {start}" if start else "recomputing everything"
    return Plan(True, start, keep, f"{what}: {where}")


def _differing(before: Mapping[K, str], now: Mapping[K, str]) -> Iterator[K]:
    """Keys whose value differs, appeared or disappeared (input days, context keys)."""
    return (key for key in before.keys() | now.keys() if before.get(key) != now.get(key))


def day_fingerprints(
    conn: duckdb.DuckDBPyConnection, table: str, columns: Iterable[str], *, day: str = "date"
) -> dict[date, str]:
    """Per day of ``table``: row count and the XOR of the rows' hashes over ``columns``, one
    aggregate query (about 0.4 s over 59 M rows). XOR ignores row order; a row appearing twice
    would cancel out, so it is meant for tables with a unique key, as a daily grain is."""
    hashed = ", ".join(columns)
    rows = conn.execute(
        f"SELECT {day}, count(*), bit_xor(hash({hashed})) FROM {table} GROUP BY {day}"
    ).fetchall()
    return {when: f"{count}:{digest:016x}" for when, count, digest in rows if when is not None}
