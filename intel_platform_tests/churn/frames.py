"""Tiny hand-made harmonized churn frames, in the contract dtypes (churn/contracts.py).

Days are offsets from D0 (a Monday), so snapshot Mondays are day(0), day(7), day(14), ...
Events of the same customer-day keep their row order through ``event_time``.
"""

from datetime import date, datetime, timedelta

import polars as pl

from intel_platform.churn.contracts import SUBSCRIPTION_SCHEMA, TICKET_SCHEMA, USAGE_SCHEMA

D0 = date(2024, 1, 1)  # a Monday


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def _times(days: list[int]) -> list[datetime]:
    return [datetime.combine(day(d), datetime.min.time()) + timedelta(minutes=i) for i, d in
            enumerate(days)]  # fmt: skip


def usage_frame(rows: list[tuple]) -> pl.DataFrame:
    """rows: (customer_id, day, event_type[, session_seconds[, feature[, amount]]])."""
    full = [(*row, *(None,) * (6 - len(row))) for row in rows]
    customers, days, events, seconds, features, amounts = (list(c) for c in zip(*full, strict=True))
    frame = pl.DataFrame(
        {
            "event_id": [f"u{i}" for i in range(len(rows))],
            "customer_id": customers,
            "date": [day(d) for d in days],
            "event_time": _times(days),
            "event_type": events,
            "session_seconds": seconds,
            "feature": features,
            "amount": amounts,
            "source_file": "usage.jsonl",
        },
        schema_overrides={
            "session_seconds": pl.Float64,
            "feature": pl.String,
            "amount": pl.Float64,
        },
    )
    return frame.select(list(USAGE_SCHEMA)).cast(USAGE_SCHEMA)  # type: ignore[arg-type]


def subscription_frame(rows: list[tuple]) -> pl.DataFrame:
    """rows: (customer_id, day, event_type[, plan[, mrr[, discount_pct]]])."""
    full = [(*row, *(None,) * (6 - len(row))) for row in rows]
    customers, days, events, plans, mrr, discounts = (list(c) for c in zip(*full, strict=True))
    frame = pl.DataFrame(
        {
            "event_id": [f"s{i}" for i in range(len(rows))],
            "customer_id": customers,
            "date": [day(d) for d in days],
            "event_time": _times(days),
            "event_type": events,
            "plan": plans,
            "mrr": mrr,
            "discount_pct": discounts,
            "source_file": "billing.csv",
        },
        schema_overrides={"plan": pl.String, "mrr": pl.Float64, "discount_pct": pl.Float64},
    )
    return frame.select(list(SUBSCRIPTION_SCHEMA)).cast(SUBSCRIPTION_SCHEMA)  # type: ignore[arg-type]


def ticket_frame(rows: list[tuple]) -> pl.DataFrame:
    """rows: (customer_id, day, category)."""
    customers, days, categories = (list(c) for c in zip(*rows, strict=True))
    frame = pl.DataFrame(
        {
            "ticket_id": [f"t{i}" for i in range(len(rows))],
            "customer_id": customers,
            "date": [day(d) for d in days],
            "opened_at": _times(days),
            "category": categories,
            "priority": "p2",
            "resolution_hours": 1.0,
            "source_file": "tickets.parquet",
        }
    )
    return frame.select(list(TICKET_SCHEMA)).cast(TICKET_SCHEMA)  # type: ignore[arg-type]


# --- Labels scenario: snapshot day(28), horizon/reversal/inactivity 30 days ------------------
# A stays; B's cancellation is a billing retry reactivated two days later; C cancels for good
# (and stops using); D never cancels but stops using on day 20. Usage runs to day 120, so
# data_as_of = day(120) and snapshot day(28) is matured for every definition.
LABEL_SUBSCRIPTIONS = subscription_frame(
    [
        ("A", 0, "signup", "pro", 20.0, 0.0),
        ("B", 0, "signup", "basic", 10.0, 0.0),
        ("B", 30, "billing_retry"),
        ("B", 31, "cancellation"),
        ("B", 33, "reactivation", "basic", 10.0, 0.0),
        ("C", 0, "signup", "basic", 10.0, 0.0),
        ("C", 35, "cancellation"),
        ("D", 0, "signup", "basic", 10.0, 0.0),
    ]
)
LABEL_USAGE = usage_frame(
    [
        *(("A", d, "login") for d in range(0, 121, 3)),
        *(("B", d, "login") for d in range(0, 121, 4)),
        *(("C", d, "login") for d in range(0, 35, 2)),
        *(("D", d, "login") for d in range(0, 21, 5)),
    ]
)

# --- Features scenario: snapshot day(14) --------------------------------------------------------
# A: a paying customer with logins, sessions, features, tickets and plan changes; N: new on day
# 10, one session, never logged in, no billing or ticket history. Events on day 14 or later
# must not show in snapshot day(14).
FEATURE_USAGE = usage_frame(
    [
        ("A", 0, "login"),
        ("A", 3, "session", 600.0),
        ("A", 3, "feature_use", None, "reports"),
        ("A", 8, "login"),
        ("A", 8, "login"),
        ("A", 8, "session", 1200.0),
        ("A", 8, "feature_use", None, "reports"),
        ("A", 8, "feature_use", None, "export"),
        ("A", 13, "session"),
        ("A", 13, "activity", None, None, 5.0),
        ("A", 14, "login"),
        ("A", 20, "feature_use", None, "admin"),
        ("N", 10, "session", 300.0),
    ]
)
FEATURE_SUBSCRIPTIONS = subscription_frame(
    [
        ("A", 0, "signup", "basic", 10.0, 0.0),
        ("A", 5, "plan_change", "pro", 20.0, 0.25),
        ("A", 9, "billing_retry"),
        ("A", 12, "downgrade", "basic", 12.0),
        ("A", 14, "cancellation"),
    ]
)
FEATURE_TICKETS = ticket_frame([("A", 2, "refund_request"), ("A", 11, "bug"), ("A", 14, "billing")])
