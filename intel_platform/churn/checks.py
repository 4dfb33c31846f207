"""The churn harmonized-layer checks, each with the runbook line on-call reads when it fails."""

import dagster as dg

from intel_platform.core.checks import CheckDefinition

_H = ["churn", "harmonized"]
SUBSCRIPTIONS_KEY = dg.AssetKey([*_H, "subscription_events"])
USAGE_KEY = dg.AssetKey([*_H, "usage_events"])
TICKETS_KEY = dg.AssetKey([*_H, "tickets"])


def _replay(name: str) -> str:
    return (
        f"then re-materialize the failed partitions of churn/harmonized/{name} (quarantined "
        "rows move back automatically)."
    )


def _contract(key: dg.AssetKey, name: str, model: str, rules: str) -> CheckDefinition:
    return CheckDefinition(
        key, f"{name}_contract", f"Pandera {model}: {rules}",
        "A harmonizer rule let a bad row through: read sample_rows, fix the rule in "
        f"intel_platform/churn/harmonize.py (add a test), {_replay(name)}",
    )  # fmt: skip


def _quarantine_rate(key: dg.AssetKey, name: str) -> CheckDefinition:
    return CheckDefinition(
        key, f"{name}_quarantine_rate",
        "Per partition, at most 1 % of rows may be quarantined (fewer than 10 never fail).",
        f"Query churn_harmonized.{name}_quarantine for the failed partitions: a new spelling "
        "needs a line in <home>/mappings/churn_spellings.csv (alias,canonical), a broken "
        f"export needs its owner; {_replay(name)}",
    )  # fmt: skip


SUBSCRIPTIONS = [
    _contract(SUBSCRIPTIONS_KEY, "subscription_events", "SubscriptionEventsModel",
              "unique event_id, known event type and plan, mrr >= 0, discount 0..100."),
    _quarantine_rate(SUBSCRIPTIONS_KEY, "subscription_events"),
]  # fmt: skip

USAGE = [
    _contract(USAGE_KEY, "usage_events", "UsageEventsModel",
              "unique event_id, known event type, session 0..86400 s."),
    _quarantine_rate(USAGE_KEY, "usage_events"),
    CheckDefinition(
        USAGE_KEY, "usage_events_volume",
        "Per partition, at least half the median event count of the same weekday over the 4 "
        "weeks before (fewer than 2 such days: no baseline yet).",
        "A day delivered far fewer events than usual (a partial export or a dropped batch); "
        "inactivity would read it as customers leaving. Ask the analytics team for the full "
        "file (landing/churn/usage/<day>.jsonl), land it, and re-materialize churn/raw/"
        "usage_events and churn/harmonized/usage_events for those days.",
    ),
]  # fmt: skip

TICKETS = [
    _contract(TICKETS_KEY, "tickets", "TicketsModel",
              "unique ticket_id, known category, resolution hours >= 0."),
    _quarantine_rate(TICKETS_KEY, "tickets"),
]  # fmt: skip
