"""Importers: land a plain activity or purchase log as churn usage data.

Why: many users have no billing or help-desk export, only an event log (product analytics, a
shop's orders). The churn graph runs on usage alone (inactivity-based churn), so the log is
written in the usage source shape of ``churn/landing.py``: one ``usage/<day>.jsonl`` per day from
the first to the last day of the log, an empty file for a day without events, so every day of
the range is complete and a missing file keeps meaning "not landed yet".

Invariants: ``event_uuid`` is a UUID5 of (customer, time, row number), so re-importing the same
file rewrites byte-identical files; a landing zone already holding another data set is refused,
as mixing two would corrupt every feature. Times are read as UTC and written to the second.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl

from intel_platform.churn import landing as zone
from intel_platform.core.home import ProjectHome
from intel_platform.core.landing import publish, refuse_foreign_files

__all__ = ["PASS_THROUGH_EVENTS", "ActivityImportSummary", "import_activity"]

# Event names of the product's own usage feed; anything else is kept as ``feature_name``.
PASS_THROUGH_EVENTS = ("login", "session", "feature_use")
ACTIVITY = "activity"
ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"
EPOCH_MS_FROM = 1e11  # a larger epoch number is milliseconds: 1e11 seconds is the year 5138
EXAMPLES = 3
_NAMESPACE = uuid.UUID("6f1c2a4e-6b1d-4c84-9a57-0c6f4d2b9e11")  # never change: ids would move
_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_ZONED_FORMAT = "%Y-%m-%d %H:%M:%S%.f%#z"
_EPOCH = r"^\d+(?:\.\d+)?$"
_TIME_WORDS = "ISO dates/datetimes (YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM]) or epoch seconds"


@dataclass(frozen=True)
class ActivityImportSummary:
    """What an import landed, for the CLI to print and tests to assert on.

    ``activity_rows`` are events whose name is not one of ``PASS_THROUGH_EVENTS`` (or that had no
    event column): they land as ``activity`` with the original name in ``feature_name``.
    """

    rows: int
    customers: int
    days: int
    empty_days: int
    activity_rows: int
    files_written: int
    first_date: date
    last_date: date


@dataclass(frozen=True)
class _Columns:
    """Which input column plays which role; ``None`` means the role is absent from the log."""

    customer: str
    time: str
    event: str | None
    amount: str | None

    def wanted(self) -> list[str]:
        roles = (self.customer, self.time, self.event, self.amount)
        return list(dict.fromkeys(c for c in roles if c is not None))


def _read_log(file: Path, cols: _Columns) -> pl.DataFrame:
    """The role columns, as text except typed Parquet times (parsed later, so errors can quote
    the bad values)."""
    if not file.is_file():
        raise ValueError(f"{file}: no such file")
    name = file.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            frame = pl.read_parquet(file)
        elif name.endswith((".csv", ".csv.gz", ".txt")):
            frame = pl.read_csv(file, infer_schema=False)
        else:
            raise ValueError(f"{file}: unsupported extension, expected .csv or .parquet")
    except pl.exceptions.NoDataError as error:
        raise ValueError(f"{file}: empty file, no header and no rows") from error
    except (pl.exceptions.PolarsError, OSError) as error:
        raise ValueError(f"{file}: cannot be read ({error})") from error
    if missing := [c for c in cols.wanted() if c not in frame.columns]:
        available = ", ".join(frame.columns) or "(none)"
        raise ValueError(f"{file}: missing column(s) {missing}; available: {available}")
    if frame.is_empty():
        raise ValueError(f"{file}: no rows (header only)")
    typed_time = frame.schema[cols.time].is_temporal() or frame.schema[cols.time].is_numeric()
    text = [c for c in cols.wanted() if not (c == cols.time and typed_time)]
    return frame.select(cols.wanted()).with_columns(
        pl.col(text).cast(pl.String).str.strip_chars().replace("", None)
    )


def _examples(values: pl.Series) -> str:
    return ", ".join(repr(v) for v in values.head(EXAMPLES).to_list())


def _parse_text_times(text: pl.Series) -> pl.Series:
    """ISO dates and datetimes (``T`` or space, optional fraction, ``Z`` or offset, also with
    slashes), else epoch seconds (milliseconds above ``EPOCH_MS_FROM``); null if none fits."""
    iso = text.str.replace(r"^(\d{4})/(\d{2})/(\d{2})", "$1-$2-$3").str.replace(
        r"^(\d{4}-\d{2}-\d{2})T", "$1 "
    )
    naive = [iso.str.to_datetime(f, strict=False, time_unit="us") for f in _NAIVE_FORMATS]
    zoned = iso.str.to_datetime(_ZONED_FORMAT, strict=False, time_unit="us")
    epoch = pl.select(
        pl.when(text.str.contains(_EPOCH)).then(text.cast(pl.Float64, strict=False))
    ).to_series()
    return pl.select(
        pl.coalesce(*naive, zoned.dt.replace_time_zone(None), _from_epoch(epoch))
    ).to_series()


def _from_epoch(seconds: pl.Series) -> pl.Expr:
    micros = pl.when(seconds >= EPOCH_MS_FROM).then(seconds * 1e3).otherwise(seconds * 1e6)
    return pl.from_epoch(micros.round().cast(pl.Int64), time_unit="us")


def _parse_times(file: Path, column: str, values: pl.Series) -> pl.Series:
    """Naive UTC datetimes; any unparseable or empty value stops the import, counted."""
    if values.dtype.is_temporal():
        zone_name = getattr(values.dtype, "time_zone", None)
        parsed = values.cast(pl.Datetime("us", zone_name) if zone_name else pl.Datetime("us"))
        if zone_name:
            parsed = parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    elif values.dtype.is_numeric():
        parsed = pl.select(_from_epoch(values.cast(pl.Float64))).to_series()
    else:
        parsed = _parse_text_times(values)
    bad = values.cast(pl.String).fill_null("<empty>").filter(parsed.is_null())
    if bad.len():
        raise ValueError(
            f"{file}: column {column!r} has {bad.len()} value(s) that are not {_TIME_WORDS}, "
            f"e.g. {_examples(bad)}"
        )
    return parsed.alias("time")


def _checked_customers(file: Path, column: str, values: pl.Series) -> pl.Series:
    if (empty := values.is_null()).any():
        rows = pl.Series(range(1, values.len() + 1)).filter(empty)
        raise ValueError(
            f"{file}: column {column!r} is empty in {rows.len()} row(s), e.g. data row(s) "
            f"{_examples(rows)}; every event needs a customer"
        )
    return values


def _parse_amounts(file: Path, column: str, values: pl.Series) -> pl.Series:
    """Floats; an empty amount is null (unknown), a non-number stops the import."""
    parsed = values.cast(pl.Float64, strict=False)
    bad = values.filter(parsed.is_null() & values.is_not_null())
    if bad.len():
        raise ValueError(
            f"{file}: column {column!r} has {bad.len()} value(s) that are not numbers, "
            f"e.g. {_examples(bad)}"
        )
    return parsed


def _usage_rows(file: Path, cols: _Columns) -> pl.DataFrame:
    """The log as usage rows plus ``date`` and input ``row``, sorted by time then row."""
    frame = _read_log(file, cols)
    customer = _checked_customers(file, cols.customer, frame[cols.customer])
    time = _parse_times(file, cols.time, frame[cols.time])
    raw_event = frame[cols.event] if cols.event else pl.repeat(None, frame.height, dtype=pl.String)
    own = raw_event.str.to_lowercase().is_in(PASS_THROUGH_EVENTS).fill_null(False)
    rows = pl.DataFrame({"row": pl.int_range(frame.height, eager=True), "user_id": customer,
                         "time": time})  # fmt: skip
    rows = rows.with_columns(
        event_name=pl.when(own).then(raw_event.str.to_lowercase()).otherwise(pl.lit(ACTIVITY)),
        session_seconds=pl.lit(None, pl.Int64),
        feature_name=pl.when(own).then(None).otherwise(raw_event),
    )
    if cols.amount:
        rows = rows.with_columns(amount=_parse_amounts(file, cols.amount, frame[cols.amount]))
    return rows.with_columns(
        event_uuid=_event_uuids(rows),
        timestamp=pl.col("time").dt.strftime(ISO_SECONDS),
        date=pl.col("time").dt.date(),
    ).sort("time", "row")


def _event_uuids(rows: pl.DataFrame) -> pl.Series:
    """RFC 4122 UUID5s (the values ``uuid.uuid5`` gives) of customer, time to the microsecond
    and row number: stable across re-imports. SHA-1 is called directly and the bits are set in
    numpy, five times faster than building a million ``uuid.UUID`` objects."""
    names = rows.select(
        pl.concat_str(
            "user_id", pl.col("time").dt.strftime("%Y-%m-%dT%H:%M:%S%.6f"),
            pl.col("row").cast(pl.String), separator="\x1f",
        )
    ).to_series()  # fmt: skip
    prefix = _NAMESPACE.bytes
    digests = b"".join(
        hashlib.sha1(prefix + name.encode(), usedforsecurity=False).digest() for name in names
    )
    raw = np.frombuffer(digests, dtype=np.uint8).reshape(-1, 20)[:, :16].copy()
    raw[:, 6] = raw[:, 6] & 0x0F | 0x50  # version 5
    raw[:, 8] = raw[:, 8] & 0x3F | 0x80  # RFC 4122 variant
    text = raw.tobytes().hex()
    hexes = pl.Series([text[32 * i : 32 * i + 32] for i in range(len(raw))], dtype=pl.String)
    cuts = ((0, 8), (8, 4), (12, 4), (16, 4), (20, 12))
    return pl.select(
        pl.concat_str([hexes.str.slice(a, n) for a, n in cuts], separator="-")
    ).to_series()


def _check_landing(home: ProjectHome, targets: set[Path]) -> None:
    """Generated billing and tickets count: their customers are not this log's."""
    refuse_foreign_files(
        zone.landing_root(home), (zone.SUBSCRIPTIONS, zone.USAGE, zone.TICKETS), targets
    )


def import_activity(
    home: ProjectHome,
    file: Path,
    *,
    customer_col: str,
    time_col: str,
    event_col: str | None = None,
    amount_col: str | None = None,
) -> ActivityImportSummary:
    """Land an activity or purchase log (CSV or Parquet, one row per event) as daily usage files.

    Event names ``login``, ``session`` and ``feature_use`` (any case) pass through; any other
    value, or every row when there is no event column, becomes ``activity`` with the original
    value in ``feature_name``; ``amount_col`` fills the optional ``amount`` key.
    """
    file = Path(file)
    rows = _usage_rows(file, _Columns(customer_col, time_col, event_col, amount_col))
    first, last = rows["date"].min(), rows["date"].max()
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    _check_landing(home, {zone.usage_file(home, day) for day in days})
    columns = [*zone.USAGE_COLUMNS, *(["amount"] if amount_col else [])]
    by_day = rows.partition_by("date", as_dict=True, maintain_order=True)
    empty = rows.select(columns).clear()
    for day in days:
        frame = by_day.get((day,), empty).select(columns)
        publish(zone.usage_file(home, day), partial(_write_ndjson, frame))
    return ActivityImportSummary(
        rows=rows.height,
        customers=rows["user_id"].n_unique(),
        days=len(days),
        empty_days=len(days) - len(by_day),
        activity_rows=int((rows["event_name"] == ACTIVITY).sum()),
        files_written=len(days),
        first_date=first,
        last_date=last,
    )


def _write_ndjson(frame: pl.DataFrame, path: Path) -> None:
    frame.write_ndjson(path)
