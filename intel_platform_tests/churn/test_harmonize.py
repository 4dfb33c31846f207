"""Churn harmonization rules on three-row frames: every raw row lands once, with a reason."""

from datetime import date, datetime

import polars as pl
import pytest

from intel_platform.churn.contracts import (
    SubscriptionEventsModel,
    TicketsModel,
    UsageEventsModel,
)
from intel_platform.churn.harmonize import (
    spellings,
    split_subscriptions,
    split_tickets,
    split_usage,
)
from intel_platform.core.checks import contract_outcome
from intel_platform.core.quarantine import indexed

DAY = date(2024, 3, 5)
NAMES = spellings()


def _raw(**columns) -> pl.DataFrame:
    rows = len(next(iter(columns.values())))
    return indexed(
        pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String)).with_columns(
            _source_file=pl.lit("subscriptions/2024-03-05.csv"),
            _row_number=pl.int_range(1, rows + 1, dtype=pl.Int32),
            _partition=pl.lit(DAY),
        )
    )


def _reasons(bad: pl.DataFrame) -> list[str]:
    return bad.sort("_raw_index")["reason"].to_list()


def test_subscription_spellings_become_one_vocabulary_and_broken_rows_say_why():
    raw = _raw(
        event_id=["e1", "e2", "e2", "e3", "e4", "e5", "e6"],
        account_id=["a", "b", "b", None, "c", "d", "e"],
        event_type=["CANCEL", "Billing-Retry", "Billing-Retry", "renewal", "trial_extension",
                    "renewal", "renewal"],
        event_ts=["2024-03-05T10:00:00", "2024/03/05 11:12:13", "2024/03/05 11:12:13",
                  "2024-03-05", "2024-03-05", "05.03.2024", "2024-03-06T00:00:01"],
        plan=["Pro", "ent", "ent", "basic", "pro", "pro", "pro"],
        mrr=["10", "5", "5", "5", "5", "5", "5"],
        discount_pct=[None, "10", "10", "0", "0", "0", "0"],
    )  # fmt: skip
    good, bad = split_subscriptions(raw, first=DAY, last=DAY, names=NAMES)
    assert good.height + bad.height == raw.height
    assert good["event_type"].cast(pl.String).to_list() == ["cancellation", "billing_retry"]
    assert good["plan"].cast(pl.String).to_list() == ["pro", "enterprise"]
    assert good["event_time"].to_list()[1] == datetime(2024, 3, 5, 11, 12, 13)
    assert _reasons(bad) == ["duplicate_event_id", "missing_customer_id", "unknown_event_type",
                             "unparseable_event_time", "date_outside_partition"]  # fmt: skip
    assert contract_outcome(SubscriptionEventsModel, good).passed


def test_money_and_discount_out_of_range_are_quarantined_not_clipped():
    raw = _raw(
        event_id=["e1", "e2", "e3", "e4"], account_id=["a", "b", "c", "d"],
        event_type=["renewal"] * 4, event_ts=["2024-03-05T08:00:00+02:00"] * 4,
        plan=["pro", "platinum", "pro", "pro"], mrr=["-5", "5", "n/a", "5"],
        discount_pct=["0", "0", "0", "150"],
    )  # fmt: skip
    good, bad = split_subscriptions(raw, first=DAY, last=DAY, names=NAMES)
    assert good.height == 0
    assert _reasons(bad) == ["negative_mrr", "unknown_plan", "unparseable_mrr",
                             "discount_out_of_range"]  # fmt: skip


def test_zoned_times_are_converted_to_utc():
    raw = _raw(event_uuid=["u1"], user_id=["a"], event_name=["login"],
               timestamp=["2024-03-05T08:00:00+02:00"], session_seconds=[None],
               feature_name=[None])  # fmt: skip
    good, _ = split_usage(raw, first=DAY, last=DAY, names=NAMES)
    assert good["event_time"].to_list() == [datetime(2024, 3, 5, 6, 0)]


def test_usage_keeps_imported_activity_and_rejects_impossible_sessions():
    raw = _raw(
        event_uuid=["u1", "u2", "u3", "u4", "u5"], user_id=["a", "a", "b", "c", "d"],
        event_name=["Log-In", "session", "activity", "session", "teleport"],
        timestamp=["2024-03-05T01:00:00"] * 5, session_seconds=[None, "600", None, "-1", None],
        feature_name=[None, None, "purchase", None, None], amount=[None, None, "9.5", None, None],
    )  # fmt: skip
    good, bad = split_usage(raw, first=DAY, last=DAY, names=NAMES)
    assert good["event_type"].cast(pl.String).to_list() == ["login", "session", "activity"]
    assert good["amount"].to_list() == [None, None, 9.5]
    assert _reasons(bad) == ["negative_session_seconds", "unknown_event_type"]
    assert contract_outcome(UsageEventsModel, good).passed


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [("Refund", "refund_request"), ("REFUND_REQ", "refund_request"),
     ("refund  request", "refund_request"), ("How-To", "how_to"), ("bug", "bug")],
)  # fmt: skip
def test_ticket_category_spellings(spelling, canonical):
    raw = _raw(ticket_id=["t1"], customer_ref=["a"], opened_at=["2024-03-05 09:00:00"],
               category=[spelling], priority=["high"], resolution_hours=["4"])  # fmt: skip
    good, bad = split_tickets(raw, first=DAY, last=DAY, names=NAMES)
    assert bad.height == 0
    assert good["category"].cast(pl.String).to_list() == [canonical]
    assert contract_outcome(TicketsModel, good).passed


def test_a_user_mapping_adds_a_spelling(tmp_path):
    (tmp_path / "churn_spellings.csv").write_text(
        "alias,canonical\nRückerstattung,refund_request\n"
    )
    raw = _raw(ticket_id=["t1"], customer_ref=["a"], opened_at=["2024-03-05"],
               category=["Rückerstattung"], priority=[None], resolution_hours=[None])  # fmt: skip
    assert split_tickets(raw, first=DAY, last=DAY, names=NAMES)[0].height == 0
    good, _ = split_tickets(raw, first=DAY, last=DAY, names=spellings(tmp_path))
    assert good["category"].cast(pl.String).to_list() == ["refund_request"]
