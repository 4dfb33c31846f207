"""Pure harmonization rules for churn: raw text rows in, (harmonized, rejected) out.

Every raw row lands in exactly one output; a rejected row carries the first rule it broke as
``reason``. Spellings of event types, plans and ticket categories go through one alias table
(``churn/spellings.csv`` plus ``<home>/mappings/churn_spellings.csv``); a spelling nobody mapped
is quarantined as ``unknown_*``, never guessed. No I/O, no clock.
"""

from datetime import date
from importlib import resources
from pathlib import Path

import polars as pl

from intel_platform.churn.contracts import (
    PLANS,
    SUBSCRIPTION_EVENTS,
    SUBSCRIPTION_SCHEMA,
    SUBSCRIPTIONS,
    TICKET_CATEGORIES,
    TICKET_SCHEMA,
    TICKETS,
    USAGE,
    USAGE_EVENTS,
    USAGE_SCHEMA,
)
from intel_platform.core.quarantine import first_reason
from intel_platform.core.rules import (
    canonical,
    first_row_per_key,
    number,
    spelled,
    spelling_table,
    split_by_reason,
    timestamp,
    unparseable,
)

SPELLINGS_FILE = "churn_spellings.csv"
MAX_MRR = 1_000_000.0
MAX_SESSION_SECONDS = 86_400.0


def spellings(user_mappings: Path | None = None) -> pl.DataFrame:
    """Shipped spellings plus the user's (which win); ``alias`` -> ``canonical``."""
    shipped = resources.files("intel_platform.churn").joinpath("spellings.csv")
    return spelling_table(shipped, user_mappings / SPELLINGS_FILE if user_mappings else None)


def _vocabulary(table: pl.DataFrame, allowed: tuple[str, ...]) -> pl.DataFrame:
    return table.filter(pl.col("canonical").is_in(allowed))


def _event_day(column: str, first: date, last: date) -> tuple[pl.Expr, list[tuple[str, pl.Expr]]]:
    """The event's timestamp and the rules that keep it readable and inside the partition."""
    when = timestamp(column)
    return when, [
        (f"missing_{column}", pl.col(column).is_null()),
        (f"unparseable_{column}", unparseable(column, when)),
        ("date_outside_partition", ~when.dt.date().is_between(first, last)),
    ]


def split_subscriptions(
    raw: pl.DataFrame, *, first: date, last: date, names: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Billing events of partitions [first, last], one row per event id."""
    rows = canonical(raw, SUBSCRIPTIONS)
    when, time_rules = _event_day("event_time", first, last)
    kind = spelled("event_type", _vocabulary(names, SUBSCRIPTION_EVENTS))
    plan = spelled("plan", _vocabulary(names, PLANS))
    mrr, discount = number("mrr"), number("discount_pct")
    reason = first_reason([
        ("missing_event_id", pl.col("event_id").is_null()),
        ("missing_customer_id", pl.col("customer_id").is_null()),
        *time_rules,
        ("unknown_event_type", pl.col("event_type").is_null() | kind.is_null()),
        ("unknown_plan", pl.col("plan").is_not_null() & plan.is_null()),
        ("unparseable_mrr", unparseable("mrr", mrr)),
        ("negative_mrr", mrr < 0),
        ("absurd_mrr", mrr > MAX_MRR),
        ("unparseable_discount_pct", unparseable("discount_pct", discount)),
        ("discount_out_of_range", ~discount.is_between(0, 100)),
    ])  # fmt: skip
    typed = rows.with_columns(
        reason=reason,
        date=when.dt.date(),
        event_time=when,
        event_type=kind,
        plan=plan,
        mrr=mrr.cast(pl.Float32),
        discount_pct=discount.cast(pl.Float32),
        source_file=pl.col("_source_file"),
    )
    typed = first_row_per_key(typed, ["event_id"], "duplicate_event_id")
    good, bad = split_by_reason(typed, list(SUBSCRIPTION_SCHEMA))
    return good.cast(SUBSCRIPTION_SCHEMA), bad


def split_usage(
    raw: pl.DataFrame, *, first: date, last: date, names: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Product usage events of [first, last], one row per event id; a session's length must
    be a real duration, an amount a real number."""
    rows = canonical(raw, USAGE)
    when, time_rules = _event_day("event_time", first, last)
    kind = spelled("event_type", _vocabulary(names, USAGE_EVENTS))
    seconds, amount = number("session_seconds"), number("amount")
    reason = first_reason([
        ("missing_event_id", pl.col("event_id").is_null()),
        ("missing_customer_id", pl.col("customer_id").is_null()),
        *time_rules,
        ("unknown_event_type", pl.col("event_type").is_null() | kind.is_null()),
        ("unparseable_session_seconds", unparseable("session_seconds", seconds)),
        ("negative_session_seconds", seconds < 0),
        ("absurd_session_seconds", seconds > MAX_SESSION_SECONDS),
        ("unparseable_amount", unparseable("amount", amount)),
    ])  # fmt: skip
    typed = rows.with_columns(
        reason=reason,
        date=when.dt.date(),
        event_time=when,
        event_type=kind,
        session_seconds=seconds.cast(pl.Float32),
        amount=amount.cast(pl.Float32),
        source_file=pl.col("_source_file"),
    )
    typed = first_row_per_key(typed, ["event_id"], "duplicate_event_id")
    good, bad = split_by_reason(typed, list(USAGE_SCHEMA))
    return good.cast(USAGE_SCHEMA), bad


def split_tickets(
    raw: pl.DataFrame, *, first: date, last: date, names: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Support tickets opened in [first, last], one row per ticket id."""
    rows = canonical(raw, TICKETS)
    when, time_rules = _event_day("opened_at", first, last)
    category = spelled("category", _vocabulary(names, TICKET_CATEGORIES))
    hours = number("resolution_hours")
    reason = first_reason([
        ("missing_ticket_id", pl.col("ticket_id").is_null()),
        ("missing_customer_id", pl.col("customer_id").is_null()),
        *time_rules,
        ("unknown_category", pl.col("category").is_null() | category.is_null()),
        ("unparseable_resolution_hours", unparseable("resolution_hours", hours)),
        ("negative_resolution_hours", hours < 0),
    ])  # fmt: skip
    typed = rows.with_columns(
        reason=reason,
        date=when.dt.date(),
        opened_at=when,
        category=category,
        resolution_hours=hours.cast(pl.Float32),
        source_file=pl.col("_source_file"),
    )
    typed = first_row_per_key(typed, ["ticket_id"], "duplicate_ticket_id")
    good, bad = split_by_reason(typed, list(TICKET_SCHEMA))
    return good.cast(TICKET_SCHEMA), bad
