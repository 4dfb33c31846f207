"""The snapshot calendar and the population at risk, shared by churn labels and features.

Snapshot T sees only events dated before T (point-in-time). Snapshots fall every
``every_days`` days on a fixed weekday (Mondays by default), from the day after the first
event up to the scoring snapshot ``data_as_of + 1``; ``data_as_of`` is the newest usage day
(usage is the dense, required feed; billing and help-desk feeds are sparse).

Active at T = first event (usage or billing) before T and not already churned: a customer whose
billing history has a status event before T is active unless the last one is a cancellation
(reactivation, renewal and sign-up reopen it); one without (or everyone, when there is no
billing feed) is active when used in the last ``inactivity_days``. The population depends on
the data, never on the label definition, so features, labels and every definition share rows.
"""

from collections.abc import Sequence
from datetime import date, timedelta

import dagster as dg
import duckdb
import polars as pl

from intel_platform.churn.contracts import SUBSCRIPTION_SCHEMA, TICKET_SCHEMA, USAGE_SCHEMA
from intel_platform.core.warehouse import read_table, table_columns, table_exists, table_name

REVERSING_EVENTS = ("reactivation", "renewal", "signup")
KEYS = ("customer_id", "snapshot_date")
_ANCHOR = date(1970, 1, 5)  # a Monday: weekday w snapshots fall on _ANCHOR + w + k * every
_T = pl.col("snapshot_date").cast(pl.Int32)
_D = pl.col("date").cast(pl.Int32)


def data_as_of(usage: pl.DataFrame) -> date | None:
    """Newest usage day: the last day every snapshot feature and label may read."""
    return usage["date"].max() if usage.height else None  # type: ignore[return-value]


def scoring_snapshot(as_of: date) -> date:
    """The snapshot scores are read from: the day after the newest complete day."""
    return as_of + timedelta(days=1)


def snapshot_dates(
    first_day: date, as_of: date, *, every_days: int = 7, weekday: int = 0, limit: int = 0
) -> list[date]:
    """Calendar snapshots T with first_day < T <= as_of + 1, the newest ``limit`` (0 = all).

    Anchored on a fixed weekday, so the same day is a snapshot whatever the data's start."""
    start, end = first_day + timedelta(days=1), scoring_snapshot(as_of)
    behind = (start - _ANCHOR - timedelta(days=weekday)).days % every_days
    day = start + timedelta(days=(every_days - behind) % every_days)
    days = []
    while day <= end:
        days.append(day)
        day += timedelta(days=every_days)
    return days[-limit:] if limit else days


def has_rows(frame: pl.DataFrame | None) -> bool:
    return frame is not None and frame.height > 0


def asof(left: pl.DataFrame, right: pl.DataFrame, key: pl.Expr, *, forward: bool = False):
    """Per customer, the ``right`` row with the newest ``_d`` <= key (or oldest >= key)."""
    return (
        left.with_columns(_key=key.cast(pl.Int32))
        .sort("_key")
        .join_asof(
            right.sort("_d"),
            left_on="_key",
            right_on="_d",
            by="customer_id",
            strategy="forward" if forward else "backward",
            check_sortedness=False,
        )
        .drop("_key", "_d")
    )


def usage_days(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select("customer_id", _d=_D).unique()


def _grid(
    usage: pl.DataFrame, subscriptions: pl.DataFrame | None, snapshots: Sequence[date]
) -> pl.DataFrame:
    """Every customer x snapshot after its first event, with ``first_seen`` (day number)."""
    frames = [usage.select("customer_id", "date")]
    if has_rows(subscriptions):
        frames.append(subscriptions.select("customer_id", "date"))  # type: ignore[union-attr]
    first = pl.concat(frames).group_by("customer_id").agg(first_seen=_D.min())
    calendar = pl.DataFrame({"snapshot_date": list(snapshots)}, schema={"snapshot_date": pl.Date})
    return first.join(calendar, how="cross").filter(pl.col("first_seen") < _T)


def _status_days(subscriptions: pl.DataFrame) -> pl.DataFrame:
    """Per customer-day, whether the day's last status event leaves the customer cancelled."""
    status = pl.col("event_type").cast(pl.String)
    return (
        subscriptions.filter(status.is_in(["cancellation", *REVERSING_EVENTS]))
        .sort("event_time")
        .group_by("customer_id", "date")
        .agg(cancelled=(status == "cancellation").last())
        .select("customer_id", "cancelled", _d=_D)
    )


def active_population(
    usage: pl.DataFrame,
    subscriptions: pl.DataFrame | None,
    snapshots: Sequence[date],
    *,
    inactivity_days: int = 30,
) -> pl.DataFrame:
    """(customer_id, snapshot_date, first_seen) at risk at each snapshot (module docstring)."""
    grid = asof(_grid(usage, subscriptions, snapshots), usage_days(usage).with_columns(
        last_use=pl.col("_d")), _T - 1)  # fmt: skip
    recent = pl.col("last_use") >= _T - inactivity_days
    if has_rows(subscriptions):
        grid = asof(grid, _status_days(subscriptions), _T - 1)  # type: ignore[arg-type]
        active = pl.when(pl.col("cancelled").is_null()).then(recent).otherwise(~pl.col("cancelled"))
    else:
        active = recent
    return (
        grid.filter(active.fill_null(False))
        .select(*KEYS, "first_seen")
        .sort("snapshot_date", "customer_id")
    )


HARMONIZED = ["churn", "harmonized"]
HARMONIZED_TABLES = ("usage_events", "subscription_events", "tickets")
USAGE_COLUMNS = ("customer_id", "date", "event_type", "session_seconds", "feature", "amount")
SUBSCRIPTION_COLUMNS = (
    "customer_id", "date", "event_time", "event_type", "plan", "mrr", "discount_pct",
)  # fmt: skip
TICKET_COLUMNS = ("customer_id", "date", "category")


def _read(
    conn: duckdb.DuckDBPyConnection, name: str, schema: dict, columns: Sequence[str]
) -> pl.DataFrame | None:
    """A harmonized table with its contract dtypes (Enums come back as text), or None when
    the source was never loaded; an optional column the source lacks comes back all null."""
    table = table_name([*HARMONIZED, name])
    if not table_exists(conn, table):
        return None
    present = set(table_columns(conn, table))
    frame = read_table(conn, table, [c for c in columns if c in present])
    return frame.select(
        (pl.col(c) if c in present else pl.lit(None)).cast(schema[c]).alias(c) for c in columns
    )


def read_harmonized(
    conn: duckdb.DuckDBPyConnection,
) -> tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame | None]:
    """(usage, subscriptions, tickets); usage is required, an empty billing feed is None."""
    usage = _read(conn, "usage_events", USAGE_SCHEMA, USAGE_COLUMNS)
    if usage is None:
        raise ValueError(f"{table_name([*HARMONIZED, 'usage_events'])} is missing: "
                         "materialize churn/harmonized/usage_events first")  # fmt: skip
    subscriptions = _read(conn, "subscription_events", SUBSCRIPTION_SCHEMA, SUBSCRIPTION_COLUMNS)
    tickets = _read(conn, "tickets", TICKET_SCHEMA, TICKET_COLUMNS)
    return usage, subscriptions if has_rows(subscriptions) else None, tickets


class SnapshotConfig(dg.Config):
    """The snapshot calendar and the usage-only activity window; labels and features must use
    the same values, so both tables hold the same (customer, snapshot) rows."""

    snapshot_weekday: int = 0  # 0 = Monday
    snapshot_every_days: int = 7
    max_snapshots: int = 104  # newest snapshots kept (0 = all)
    inactivity_days: int = 30

    def snapshots(self, usage: pl.DataFrame, subscriptions: pl.DataFrame | None) -> list[date]:
        as_of = data_as_of(usage)
        if as_of is None:
            return []
        firsts = [usage["date"].min()]
        if has_rows(subscriptions):
            firsts.append(subscriptions["date"].min())  # type: ignore[index]
        return snapshot_dates(min(firsts), as_of, every_days=self.snapshot_every_days,
                              weekday=self.snapshot_weekday, limit=self.max_snapshots)  # fmt: skip
