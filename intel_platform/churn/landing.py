"""The churn landing zone: what each SaaS system drops, where, and with which header.

Source shapes differ on purpose (billing says ``account_id``, product analytics ``user_id``,
the help desk ``customer_ref``); the harmonized layer maps them onto one contract. Layout under
``<home>/landing/churn``::

    subscriptions/<YYYY-MM-DD>.csv    billing events of that day (sign-up, renewal, plan change,
                                      downgrade, cancellation, billing retry, reactivation)
    usage/<YYYY-MM-DD>.jsonl          product analytics events (login, session, feature use),
                                      or an imported activity log (``import activity``)
    tickets/<YYYY-MM-DD>.parquet      support tickets opened that day

Only usage is required for a day: a user running the product on a plain activity log has no
billing or help-desk export, and the graph works without them (inactivity-based churn).
"""

from datetime import date
from pathlib import Path

from intel_platform.core.home import ProjectHome

PRODUCT = "churn"

SUBSCRIPTIONS = "subscriptions"
USAGE = "usage"
TICKETS = "tickets"

SUBSCRIPTION_COLUMNS = (
    "event_id", "account_id", "event_type", "event_ts", "plan", "mrr", "discount_pct",
)  # fmt: skip
USAGE_COLUMNS = (
    "event_uuid", "user_id", "event_name", "timestamp", "session_seconds", "feature_name",
)  # fmt: skip
# Optional usage column: an imported purchase log's amount (``import activity --amount-col``).
USAGE_OPTIONAL_COLUMNS = ("amount",)
TICKET_COLUMNS = (
    "ticket_id", "customer_ref", "opened_at", "category", "priority", "resolution_hours",
)  # fmt: skip


def landing_root(home: ProjectHome) -> Path:
    return home.landing / PRODUCT


def subscriptions_file(home: ProjectHome, day: date) -> Path:
    return landing_root(home) / SUBSCRIPTIONS / f"{day.isoformat()}.csv"


def usage_file(home: ProjectHome, day: date) -> Path:
    return landing_root(home) / USAGE / f"{day.isoformat()}.jsonl"


def tickets_file(home: ProjectHome, day: date) -> Path:
    return landing_root(home) / TICKETS / f"{day.isoformat()}.parquet"
