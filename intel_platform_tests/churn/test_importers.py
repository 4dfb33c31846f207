"""Activity-log import: column mapping, the usage shape, complete days, idempotency, errors."""

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from intel_platform.churn import landing
from intel_platform.churn.importers import ActivityImportSummary, import_activity
from intel_platform.core.home import ProjectHome

LOG = {
    "customer": ["c1", "c2", "c1", "c3", "c2"],
    "when": ["2024-03-05T10:11:12", "2024-03-05 08:00:00", "2024-03-07", "2024-03-08T09:00:00Z",
             "2024-03-08T23:30:00"],
    "what": ["LOGIN", "purchase", None, "session", "feature_use"],
    "paid": ["", "19.90", "5", "", "0"],
}  # fmt: skip


def _write_log(folder: Path, columns: dict[str, list], name: str = "log.csv") -> Path:
    path = folder / name
    frame = pl.DataFrame(columns)
    frame.write_parquet(path) if name.endswith(".parquet") else frame.write_csv(path)
    return path


def _day(home: ProjectHome, day: date) -> list[dict]:
    text = landing.usage_file(home, day).read_text()
    return [json.loads(line) for line in text.splitlines()]


def _landed(home: ProjectHome) -> dict[str, bytes]:
    root = landing.landing_root(home) / landing.USAGE
    return {p.name: p.read_bytes() for p in sorted(root.glob("*"))}


def test_a_log_lands_as_one_usage_file_per_day_with_empty_days_present(home, tmp_path):
    log = _write_log(tmp_path, LOG)
    summary = import_activity(
        home, log, customer_col="customer", time_col="when", event_col="what", amount_col="paid"
    )
    assert summary == ActivityImportSummary(
        rows=5, customers=3, days=4, empty_days=1, activity_rows=2, files_written=4,
        first_date=date(2024, 3, 5), last_date=date(2024, 3, 8),
    )  # fmt: skip
    assert sorted(_landed(home)) == [f"2024-03-0{d}.jsonl" for d in (5, 6, 7, 8)]
    assert _landed(home)["2024-03-06.jsonl"] == b""
    first = _day(home, date(2024, 3, 5))
    assert [tuple(row) for row in first] == [(*landing.USAGE_COLUMNS, "amount")] * 2
    without_ids = [{k: v for k, v in row.items() if k != "event_uuid"} for row in first]
    assert without_ids == [  # sorted by time, not by input order
        {"user_id": "c2", "event_name": "activity", "timestamp": "2024-03-05T08:00:00",
         "session_seconds": None, "feature_name": "purchase", "amount": 19.9},
        {"user_id": "c1", "event_name": "login", "timestamp": "2024-03-05T10:11:12",
         "session_seconds": None, "feature_name": None, "amount": None},
    ]  # fmt: skip
    names = [(r["event_name"], r["feature_name"]) for r in _day(home, date(2024, 3, 8))]
    assert names == [("session", None), ("feature_use", None)]
    assert _day(home, date(2024, 3, 7))[0]["event_name"] == "activity"  # no event name


def test_without_event_or_amount_column_every_row_is_activity(home, tmp_path):
    log = _write_log(tmp_path, {"customer": LOG["customer"], "when": LOG["when"]})
    summary = import_activity(home, log, customer_col="customer", time_col="when")
    assert summary.activity_rows == summary.rows == 5
    row = _day(home, date(2024, 3, 5))[0]
    assert tuple(row) == landing.USAGE_COLUMNS  # no amount key when there is no amount
    assert (row["event_name"], row["feature_name"]) == ("activity", None)


@pytest.mark.parametrize(
    "value",
    ["2024-03-05T10:11:12", "2024-03-05 10:11:12.250", "2024-03-05T10:11:12Z",
     "2024-03-05T12:11:12+02:00", "2024/03/05 10:11:12", "1709633472", "1709633472000"],
)  # fmt: skip
def test_iso_datetimes_offsets_and_epoch_seconds_are_read_as_utc(home, tmp_path, value):
    log = _write_log(tmp_path, {"customer": ["c1"], "when": [value]})
    import_activity(home, log, customer_col="customer", time_col="when")
    assert _day(home, date(2024, 3, 5))[0]["timestamp"] == "2024-03-05T10:11:12"


def test_a_parquet_log_with_typed_columns(home, tmp_path):
    stamps = [datetime(2024, 3, 5, 23, 30, tzinfo=UTC), datetime(2024, 3, 6, 1, 0, tzinfo=UTC)]
    log = _write_log(
        tmp_path,
        {"account": [101, 102], "at": stamps, "kind": ["login", "order"], "eur": [0.0, 12.5]},
        name="log.parquet",
    )
    import_activity(
        home, log, customer_col="account", time_col="at", event_col="kind", amount_col="eur"
    )
    row = _day(home, date(2024, 3, 6))[0]
    assert (row["user_id"], row["timestamp"], row["feature_name"], row["amount"]) == (
        "102", "2024-03-06T01:00:00", "order", 12.5,
    )  # fmt: skip


def test_reimporting_the_same_file_rewrites_identical_files(home, tmp_path):
    log = _write_log(tmp_path, LOG)
    columns = {"customer_col": "customer", "time_col": "when", "event_col": "what"}
    first = import_activity(home, log, **columns)
    landed = _landed(home)
    assert import_activity(home, log, **columns) == first
    assert _landed(home) == landed
    ids = [
        row["event_uuid"] for name in landed for row in _day(home, date.fromisoformat(name[:10]))
    ]
    assert len(set(ids)) == len(ids) == 5
    assert {uuid.UUID(i).version for i in ids} == {5}


def test_missing_columns_are_listed_with_the_available_ones(home, tmp_path):
    log = _write_log(tmp_path, LOG)
    with pytest.raises(ValueError, match=r"log\.csv: missing column\(s\) \['user'\]") as error:
        import_activity(home, log, customer_col="user", time_col="when")
    assert "available: customer, when, what, paid" in str(error.value)


def test_unparseable_times_are_counted_and_shown(home, tmp_path):
    when = ["2024-03-05", "yesterday", "", "2024-13-45", "05.03.2024"]
    log = _write_log(tmp_path, {"customer": LOG["customer"], "when": when})
    with pytest.raises(ValueError, match=r"column 'when' has 4 value\(s\) that are not ISO") as e:
        import_activity(home, log, customer_col="customer", time_col="when")
    assert "e.g. 'yesterday', '<empty>', '2024-13-45'" in str(e.value)
    assert not landing.usage_file(home, date(2024, 3, 5)).exists()  # nothing half-landed


def test_bad_customers_amounts_and_files_are_refused_by_name(home, tmp_path):
    no_customer = _write_log(tmp_path, {"customer": ["c1", " ", None], "when": LOG["when"][:3]})
    with pytest.raises(ValueError, match=r"'customer' is empty in 2 row\(s\), e.g. .*2, 3"):
        import_activity(home, no_customer, customer_col="customer", time_col="when")
    log = _write_log(tmp_path, {**LOG, "paid": ["1", "x", "", "2", "free"]}, name="paid.csv")
    with pytest.raises(ValueError, match=r"paid\.csv: column 'paid' has 2 .* e\.g\. 'x', 'free'"):
        import_activity(home, log, customer_col="customer", time_col="when", amount_col="paid")
    empty, header = tmp_path / "empty.csv", tmp_path / "header.csv"
    empty.write_text("")
    header.write_text("customer,when\n")
    problems = {empty: "empty file", header: "no rows", tmp_path / "no.csv": "no such file"}
    for path, problem in problems.items():
        with pytest.raises(ValueError, match=f"{path.name}: {problem}"):
            import_activity(home, path, customer_col="customer", time_col="when")


def test_a_landing_zone_holding_another_data_set_is_refused(home, tmp_path):
    import_activity(home, _write_log(tmp_path, LOG), customer_col="customer", time_col="when")
    later = _write_log(tmp_path, {"customer": ["c9"], "when": ["2024-04-01"]}, name="later.csv")
    with pytest.raises(ValueError, match="already holds 4 file"):
        import_activity(home, later, customer_col="customer", time_col="when")
    assert not landing.usage_file(home, date(2024, 4, 1)).exists()
