"""The churn raw and harmonized layers on small hand-written landing zones: every raw row is
kept or quarantined once, absent optional sources harmonize empty, and bad input names its file."""

import json
from datetime import date, timedelta

import duckdb

from intel_platform.churn import landing
from intel_platform.churn.definitions import defs as churn_defs
from intel_platform.core.home import ProjectHome
from intel_platform.core.runs import check_results, failed_steps, materialize_days

START = date(2024, 3, 4)
FOUNDATION = "group:churn_raw or group:churn_harmonized"


def _usage(home: ProjectHome, day: date, events: int, *, extra: dict | None = None) -> None:
    path = landing.usage_file(home, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {"event_uuid": f"{day}-{i}", "user_id": f"C{i % 7}", "event_name": "login",
         "timestamp": f"{day}T0{i % 10}:00:00", "session_seconds": None, "feature_name": None,
         **(extra or {})}
        for i in range(events)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _subscriptions(home: ProjectHome, day: date, lines: list[str]) -> None:
    path = landing.subscriptions_file(home, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "event_id,account_id,event_type,event_ts,plan,mrr,discount_pct\n"
    path.write_text(header + "".join(line + "\n" for line in lines))


def _count(home: ProjectHome, sql: str) -> int:
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        return conn.execute(sql).fetchone()[0]


def _checks(result) -> dict[str, bool]:
    return {c.check_name: c.passed for c in check_results(result)}


def test_usage_only_history_harmonizes_with_empty_optional_sources(home, instance):
    for offset in range(5):
        _usage(home, START + timedelta(offset), 20)
    result = materialize_days(churn_defs(), instance, START, START + timedelta(4),
                              selection=FOUNDATION)  # fmt: skip
    assert result.success, failed_steps(result)
    assert _count(home, "SELECT count(*) FROM churn_harmonized.usage_events") == 100
    assert _count(home, "SELECT count(*) FROM churn_harmonized.subscription_events") == 0
    assert _count(home, "SELECT count(*) FROM churn_harmonized.tickets") == 0
    assert all(_checks(result).values())


def test_bad_rows_are_quarantined_with_reasons_and_rows_add_up(home, instance):
    _usage(home, START, 5)
    _subscriptions(home, START, [
        "s1,C1,Sign-Up,2024-03-04T09:00:00,Pro,49,0",
        "s2,C2,CANCEL,2024/03/04 10:00:00,basic,19,",
        "s2,C2,CANCEL,2024/03/04 10:00:00,basic,19,",
        "s3,C3,trial_extension,2024-03-04T11:00:00,pro,49,0",
        "s4,C4,renewal,yesterday,pro,49,0",
    ])  # fmt: skip
    result = materialize_days(churn_defs(), instance, START, START, selection=FOUNDATION)
    assert result.success
    kept = _count(home, "SELECT count(*) FROM churn_harmonized.subscription_events")
    reasons = (
        duckdb.connect(str(home.warehouse), read_only=True)
        .execute(
            "SELECT reason FROM churn_harmonized.subscription_events_quarantine ORDER BY row_number"
        )
        .fetchall()
    )
    assert kept == 2
    assert [r for (r,) in reasons] == ["duplicate_event_id", "unknown_event_type",
                                       "unparseable_event_time"]  # fmt: skip
    rate = next(c for c in check_results(result)
                if c.check_name == "subscription_events_quarantine_rate")  # fmt: skip
    assert rate.metadata["worst_partition_quarantine_rate"].value == 0.6
    assert rate.passed  # 3 bad rows are under the 10 that may page anybody


def test_a_day_with_a_fraction_of_its_weekday_events_fails_the_volume_check(home, instance):
    for offset in range(15):  # the third Monday brings a fifth of the two before
        _usage(home, START + timedelta(offset), 40 if offset < 14 else 8)
    result = materialize_days(churn_defs(), instance, START, START + timedelta(14),
                              selection=FOUNDATION)  # fmt: skip
    volume = next(c for c in check_results(result) if c.check_name == "usage_events_volume")
    assert not volume.passed
    assert volume.metadata["failed_partitions"].value == str(START + timedelta(14))


def test_a_missing_usage_day_fails_naming_the_day(home, instance):
    _usage(home, START, 5)
    result = materialize_days(churn_defs(), instance, START, START + timedelta(1),
                              selection="churn/raw/usage_events")  # fmt: skip
    message = " ".join(failed_steps(result).values())
    assert not result.success
    assert "2024-03-05" in message  # the missing day, named


def test_an_unknown_usage_column_fails_naming_the_file(home, instance):
    _usage(home, START, 5, extra={"referrer": "ads"})
    result = materialize_days(churn_defs(), instance, START, START,
                              selection="churn/raw/usage_events")  # fmt: skip
    message = " ".join(failed_steps(result).values())
    assert "usage/2024-03-04.jsonl" in message and "referrer" in message
