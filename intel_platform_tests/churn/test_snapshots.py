"""The snapshot calendar and the population at risk that labels and features share."""

from datetime import date

from intel_platform.churn.snapshots import active_population, scoring_snapshot, snapshot_dates
from intel_platform_tests.churn.frames import day, subscription_frame, usage_frame

T = day(28)


def test_snapshot_dates_are_mondays_after_the_first_event_up_to_the_scoring_snapshot():
    assert snapshot_dates(date(2024, 1, 1), date(2024, 1, 21)) == [day(7), day(14), day(21)]
    assert snapshot_dates(date(2024, 1, 1), date(2024, 1, 20)) == [day(7), day(14)]
    assert snapshot_dates(date(2024, 1, 1), date(2024, 1, 28), limit=2) == [day(21), day(28)]
    assert snapshot_dates(date(2024, 1, 1), date(2024, 1, 21), weekday=2) == [
        day(2),
        day(9),
        day(16),
    ]
    assert scoring_snapshot(date(2024, 1, 21)) == day(21)


def test_population_uses_cancelled_state_with_billing_and_recent_usage_without():
    subscriptions = subscription_frame(
        [
            ("A", 0, "signup"),
            ("B", 0, "signup"),
            ("B", 10, "cancellation"),  # cancelled before T: out
            ("C", 0, "signup"),
            ("C", 10, "cancellation"),
            ("C", 12, "reactivation"),  # reopened before T: in
        ]
    )
    usage = usage_frame(
        [("A", 1, "login"), ("E", 2, "login"), ("F", 28, "login")]  # E: no billing, recent use
    )
    population = active_population(usage, subscriptions, [T], inactivity_days=30)
    assert population["customer_id"].to_list() == ["A", "C", "E"]  # F's first event is on T
    usage_only = active_population(usage, None, [T, day(35)], inactivity_days=30)
    assert usage_only.select("customer_id", "snapshot_date").rows() == [
        ("A", T),
        ("E", T),
        ("F", day(35)),  # A (day 1) and E (day 2) left the 30-day window by day 35
    ]
