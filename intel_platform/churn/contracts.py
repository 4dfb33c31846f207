"""Churn contracts: the one shape each SaaS source is mapped onto.

Canonical event vocabularies are Enums, so a spelling no mapping knows cannot slip through as
a new category: it is quarantined with its reason (``unknown_event_type``, ...).
"""

import pandera.polars as pa
import polars as pl
from pandera.api.polars.model_config import BaseConfig

from intel_platform.core.contracts import Contract

SUBSCRIPTION_EVENTS = (
    "signup", "renewal", "plan_change", "downgrade", "cancellation", "billing_retry",
    "reactivation",
)  # fmt: skip
PLANS = ("basic", "pro", "enterprise")
# "activity" is any event of an imported log whose name is none of the product's own.
USAGE_EVENTS = ("login", "session", "feature_use", "activity")
TICKET_CATEGORIES = ("refund_request", "billing", "bug", "how_to", "account", "other")

SubscriptionEvent = pl.Enum(SUBSCRIPTION_EVENTS)
Plan = pl.Enum(PLANS)
UsageEvent = pl.Enum(USAGE_EVENTS)
TicketCategory = pl.Enum(TICKET_CATEGORIES)

SUBSCRIPTIONS = Contract(
    name="subscription_events",
    aliases={
        "event_id": ("id", "billing_event_id"),
        "customer_id": ("account_id", "account", "customer"),
        "event_time": ("event_ts", "timestamp", "occurred_at"),
        "event_type": ("type", "event"),
        "plan": ("plan_name", "tier"),
        "mrr": ("monthly_revenue", "amount"),
        "discount_pct": ("discount", "discount_percent"),
    },
    required=frozenset({"event_id", "customer_id", "event_time", "event_type"}),
)

USAGE = Contract(
    name="usage_events",
    aliases={
        "event_id": ("event_uuid", "id"),
        "customer_id": ("user_id", "account_id", "customer"),
        "event_time": ("timestamp", "ts", "time"),
        "event_type": ("event_name", "event", "type"),
        "session_seconds": ("duration_seconds", "session_length"),
        "feature": ("feature_name",),
        "amount": ("value", "revenue"),
    },
    required=frozenset({"event_id", "customer_id", "event_time", "event_type"}),
)

TICKETS = Contract(
    name="tickets",
    aliases={
        "ticket_id": ("id", "case_id"),
        "customer_id": ("customer_ref", "account_id", "customer"),
        "opened_at": ("created_at", "opened"),
        "category": ("topic", "ticket_category"),
        "priority": ("severity",),
        "resolution_hours": ("hours_to_resolve", "resolution_time_h"),
    },
    required=frozenset({"ticket_id", "customer_id", "opened_at", "category"}),
)

# The harmonized tables (DuckDB stores the Enums as text; read back, cast with these).
SUBSCRIPTION_SCHEMA = {
    "event_id": pl.String, "customer_id": pl.String, "date": pl.Date,
    "event_time": pl.Datetime("us"), "event_type": SubscriptionEvent, "plan": Plan,
    "mrr": pl.Float32, "discount_pct": pl.Float32, "source_file": pl.String,
}  # fmt: skip
USAGE_SCHEMA = {
    "event_id": pl.String, "customer_id": pl.String, "date": pl.Date,
    "event_time": pl.Datetime("us"), "event_type": UsageEvent, "session_seconds": pl.Float32,
    "feature": pl.String, "amount": pl.Float32, "source_file": pl.String,
}  # fmt: skip
TICKET_SCHEMA = {
    "ticket_id": pl.String, "customer_id": pl.String, "date": pl.Date,
    "opened_at": pl.Datetime("us"), "category": TicketCategory, "priority": pl.String,
    "resolution_hours": pl.Float32, "source_file": pl.String,
}  # fmt: skip


class _Strict(BaseConfig):
    strict = True


class SubscriptionEventsModel(pa.DataFrameModel):
    """One row per billing event; money is never negative, discounts are percentages."""

    event_id: str = pa.Field(str_length={"min_value": 1}, unique=True)
    customer_id: str = pa.Field(str_length={"min_value": 1})
    date: pl.Date
    event_time: pl.Datetime
    event_type: str = pa.Field(isin=list(SUBSCRIPTION_EVENTS))
    plan: str = pa.Field(isin=list(PLANS), nullable=True)
    mrr: pl.Float32 = pa.Field(ge=0, nullable=True)
    discount_pct: pl.Float32 = pa.Field(ge=0, le=100, nullable=True)
    source_file: str

    class Config(_Strict):
        pass


class UsageEventsModel(pa.DataFrameModel):
    """One row per product event; a session lasts between 0 s and a day."""

    event_id: str = pa.Field(str_length={"min_value": 1}, unique=True)
    customer_id: str = pa.Field(str_length={"min_value": 1})
    date: pl.Date
    event_time: pl.Datetime
    event_type: str = pa.Field(isin=list(USAGE_EVENTS))
    session_seconds: pl.Float32 = pa.Field(ge=0, le=86_400, nullable=True)
    feature: str = pa.Field(nullable=True)
    amount: pl.Float32 = pa.Field(nullable=True)
    source_file: str

    class Config(_Strict):
        pass


class TicketsModel(pa.DataFrameModel):
    """One row per support ticket."""

    ticket_id: str = pa.Field(str_length={"min_value": 1}, unique=True)
    customer_id: str = pa.Field(str_length={"min_value": 1})
    date: pl.Date
    opened_at: pl.Datetime
    category: str = pa.Field(isin=list(TICKET_CATEGORIES))
    priority: str = pa.Field(nullable=True)
    resolution_hours: pl.Float32 = pa.Field(ge=0, nullable=True)
    source_file: str

    class Config(_Strict):
        pass
