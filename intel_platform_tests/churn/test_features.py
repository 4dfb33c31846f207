from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from intel_platform.churn.features import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    FEATURE_SCHEMA,
    FeatureModel,
    build_snapshot_features,
)
from intel_platform.churn.snapshots import active_population
from intel_platform_tests.churn.frames import (
    FEATURE_SUBSCRIPTIONS,
    FEATURE_TICKETS,
    FEATURE_USAGE,
    LABEL_USAGE,
    day,
    subscription_frame,
    ticket_frame,
    usage_frame,
)

T = day(14)
USAGE_A = {  # the "activity" on day 13 counts as a login (an imported log's only signal)
    "days_since_last_login": 1.0, "logins_7d": 3, "logins_30d": 4, "sessions_7d": 2,
    "sessions_30d": 3, "login_change_wow": 2.0, "login_trend_14d": None,  # no baseline yet
    "avg_session_minutes_30d": 15.0,
    "distinct_features_30d": 2, "tenure_days": 14, "activity_amount_30d": 5.0,
}  # fmt: skip
USAGE_N = {  # new on day 10: one 5-minute session, never logged in (null, not zero)
    "days_since_last_login": None, "logins_7d": 0, "logins_30d": 0, "sessions_7d": 1,
    "sessions_30d": 1, "login_change_wow": 0.0, "login_trend_14d": None,
    "avg_session_minutes_30d": 5.0,
    "distinct_features_30d": 0, "tenure_days": 4, "activity_amount_30d": 0.0,
}  # fmt: skip


def rows(frame: pl.DataFrame) -> dict[str, dict]:
    return {r["customer_id"]: r for r in frame.iter_rows(named=True)}


def test_login_trend_compares_the_last_two_weeks_with_the_customers_own_rate():
    """One login a day for 76 days, then one every 5 days: "logins down 79 % in 2 weeks"."""
    daily = [("A", d, "login") for d in range(76)] + [("A", d, "login") for d in (76, 81, 86)]
    usage = usage_frame([*daily, ("B", 70, "login"), ("B", 85, "login")])  # B: 20 days old
    frame = build_snapshot_features(usage, None, None, [day(90)])
    trend = dict(frame.select("customer_id", "login_trend_14d").iter_rows())
    assert trend["A"] == pytest.approx(3 / 14 / 1.0 - 1, abs=1e-6)
    assert trend["B"] == pytest.approx(1 / 14 / (1 / 6) - 1, abs=1e-6)  # 6 days of baseline


def test_feature_columns_and_dtypes():
    assert FEATURE_COLUMNS[:3] == ("days_since_last_login", "logins_7d", "logins_30d")
    assert len(FEATURE_COLUMNS) == 19 and CATEGORICAL_FEATURES == ("plan_code",)
    frame = build_snapshot_features(FEATURE_USAGE, FEATURE_SUBSCRIPTIONS, FEATURE_TICKETS, [T])
    assert frame.columns == ["customer_id", "snapshot_date", *FEATURE_COLUMNS]
    assert dict(frame.select(FEATURE_COLUMNS).schema) == FEATURE_SCHEMA
    FeatureModel.validate(frame)


def test_hand_computed_features_with_every_source():
    frame = build_snapshot_features(FEATURE_USAGE, FEATURE_SUBSCRIPTIONS, FEATURE_TICKETS, [T])
    got = rows(frame)
    assert got["A"] == {
        "customer_id": "A", "snapshot_date": T, **USAGE_A, "tickets_30d": 2,
        "refund_requests_30d": 1, "plan_code": 0, "plan_changes_90d": 2, "downgrades_90d": 1,
        "billing_retries_30d": 1, "discount_pct": 0.25, "mrr": 12.0,
    }  # fmt: skip
    assert got["N"] == {  # sources exist but N has no history there: counts 0, values null
        "customer_id": "N", "snapshot_date": T, **USAGE_N, "tickets_30d": 0,
        "refund_requests_30d": 0, "plan_code": None, "plan_changes_90d": 0, "downgrades_90d": 0,
        "billing_retries_30d": 0, "discount_pct": None, "mrr": None,
    }  # fmt: skip


def test_usage_only_build_leaves_billing_and_ticket_features_null():
    got = rows(build_snapshot_features(FEATURE_USAGE, None, None, [T]))
    absent = ("tickets_30d", "refund_requests_30d", "plan_code", "plan_changes_90d",
              "downgrades_90d", "billing_retries_30d", "discount_pct", "mrr")  # fmt: skip
    for customer, expected in (("A", USAGE_A), ("N", USAGE_N)):
        assert {k: got[customer][k] for k in expected} == expected
        assert all(got[customer][k] is None for k in absent)
    # the harmonized layer writes an empty table for a source the deployment lacks: still null
    empty = build_snapshot_features(FEATURE_USAGE, None, FEATURE_TICKETS.head(0), [T])
    assert empty["tickets_30d"].to_list() == [None, None]


def test_counts_are_null_before_a_feed_starts_and_zero_after():
    tickets = ticket_frame([("A", 11, "bug")])  # the help desk export starts on day 11
    frame = build_snapshot_features(FEATURE_USAGE, None, tickets, [day(7), T])
    assert frame.select("customer_id", "snapshot_date", "tickets_30d").rows() == [
        ("A", day(7), None),
        ("A", T, 1),
        ("N", T, 0),
    ]


def test_missing_amount_column_is_null_not_zero():
    frame = build_snapshot_features(LABEL_USAGE, None, None, [day(28)])
    assert frame.height == 4 and frame["activity_amount_30d"].null_count() == 4


def test_events_on_the_snapshot_day_or_later_never_change_it():
    before = build_snapshot_features(FEATURE_USAGE, FEATURE_SUBSCRIPTIONS, FEATURE_TICKETS, [T])
    future = (14, 15, 30)
    usage = pl.concat([
        FEATURE_USAGE.filter(pl.col("date") < T),
        usage_frame([(c, d, e, 60.0, "new", 9.0) for c in "AN" for d in future
                     for e in ("login", "session", "feature_use")]),
    ])  # fmt: skip
    subscriptions = pl.concat([
        FEATURE_SUBSCRIPTIONS.filter(pl.col("date") < T),
        subscription_frame([(c, d, e, "enterprise", 99.0, 0.5) for c in "AN" for d in future
                            for e in ("downgrade", "billing_retry", "cancellation")]),
    ])  # fmt: skip
    tickets = pl.concat([
        FEATURE_TICKETS.filter(pl.col("date") < T),
        ticket_frame([(c, d, "refund_request") for c in "AN" for d in future]),
    ])  # fmt: skip
    after = build_snapshot_features(usage, subscriptions, tickets, [T])
    assert_frame_equal(before, after)


def test_snapshot_keys_can_be_given_and_are_kept_as_is():
    keys = pl.DataFrame({"customer_id": ["N", "A"], "snapshot_date": [T, T]})
    frame = build_snapshot_features(FEATURE_USAGE, FEATURE_SUBSCRIPTIONS, FEATURE_TICKETS, keys)
    assert frame["customer_id"].to_list() == ["A", "N"]
    assert build_snapshot_features(FEATURE_USAGE, None, None, [day(0)]).height == 0


def _random_usage(seed: int = 0, customers: int = 12, days: int = 100) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    events = []
    for c in range(customers):
        start = int(rng.integers(0, 40))
        for d in range(start, days):
            for _ in range(int(rng.poisson(0.8))):
                kind = str(rng.choice(["login", "session", "feature_use"]))
                feature = f"f{rng.integers(0, 6)}" if kind == "feature_use" else None
                events.append((f"C{c}", d, kind, 60.0 * int(rng.integers(1, 30)), feature))
    return usage_frame(events)


@pytest.mark.parametrize("seed", [0, 1])
def test_vectorised_windows_match_a_slow_loop_over_snapshots(seed):
    usage = _random_usage(seed)
    snapshots = [day(d) for d in range(7, 101, 7)]
    frame = build_snapshot_features(usage, None, None, snapshots)
    population = active_population(usage, None, snapshots)
    expected = []
    for snapshot in snapshots:

        def window(days: int, snapshot=snapshot) -> pl.Expr:
            return pl.col("date").is_between(snapshot - timedelta(days=days), snapshot,
                                             closed="left")  # fmt: skip

        past = usage.filter(pl.col("date") < snapshot)
        login = pl.col("event_type") == "login"
        expected.append(past.group_by("customer_id").agg(
            snapshot_date=pl.lit(snapshot),
            logins_7d=(login & window(7)).sum(),
            logins_30d=(login & window(30)).sum(),
            sessions_30d=((pl.col("event_type") == "session") & window(30)).sum(),
            distinct_features_30d=pl.col("feature").filter(window(30)).drop_nulls().n_unique(),
            days_since_last_login=(snapshot - pl.col("date").filter(login).max()).dt.total_days(),
        ))  # fmt: skip
    slow = population.select("customer_id", "snapshot_date").join(
        pl.concat(expected), on=["customer_id", "snapshot_date"], how="left"
    )
    assert_frame_equal(
        frame.select(slow.columns),
        slow.sort("snapshot_date", "customer_id"),
        check_dtypes=False,
    )
