from dataclasses import replace
from datetime import date, timedelta

import duckdb
import pytest

from intel_platform.core.incremental import (
    MANIFEST,
    Manifest,
    Segment,
    day_fingerprints,
    plan,
    read_manifest,
)

D0 = date(2024, 1, 1)
OPEN_DAYS = 28


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def inputs(n_days: int, **changed: str) -> dict[date, str]:
    """Fingerprints of days 0..n_days-1; ``d5="x"`` changes day 5's."""
    prints = {day(n): f"1:{n:016x}" for n in range(n_days)}
    for name, value in changed.items():
        prints[day(int(name[1:]))] = value
    return prints


def manifest(*spans: tuple[int, int], n_days: int, failed: int | None = None) -> Manifest:
    """A table of segments over day spans [first, last], built from ``inputs(n_days)``."""
    segments = tuple(
        Segment(day(a), day(b), (f"{a}-S0-000.parquet",), b - a + 1, passed=a != failed)
        for a, b in spans
    )
    return Manifest("sig", inputs(n_days), segments)


def test_no_manifest_or_a_new_signature_rebuilds_everything():
    assert plan(None, "sig", inputs(10), OPEN_DAYS).reason.startswith("first build")
    step = plan(manifest((0, 9), n_days=10), "other", inputs(10), OPEN_DAYS)
    assert (step.recompute, step.start, step.keep) == (True, None, ())


def test_unchanged_inputs_recompute_nothing_and_keep_every_segment():
    previous = manifest((0, 99), (100, 109), n_days=110)
    step = plan(previous, "sig", inputs(110), OPEN_DAYS)
    assert not step.recompute
    assert step.keep == previous.segments


def test_a_new_day_starts_a_segment_after_a_closed_one_and_grows_an_open_one():
    closed = manifest((0, 99), n_days=100)
    step = plan(closed, "sig", inputs(101), OPEN_DAYS)
    assert (step.start, step.keep) == (day(100), closed.segments)
    open_tail = manifest((0, 99), (100, 110), n_days=111)
    step = plan(open_tail, "sig", inputs(112), OPEN_DAYS)
    assert (step.start, step.keep) == (day(100), open_tail.segments[:1])
    full_tail = manifest((0, 99), (100, 127), n_days=128)  # 28 days: closed
    step = plan(full_tail, "sig", inputs(129), OPEN_DAYS)
    assert (step.start, step.keep) == (day(128), full_tail.segments)


def test_a_changed_day_recomputes_from_the_start_of_its_segment():
    previous = manifest((0, 99), (100, 127), (128, 140), n_days=141)
    step = plan(previous, "sig", inputs(141, d110="2:ff"), OPEN_DAYS)
    assert (step.start, step.keep) == (day(100), previous.segments[:1])
    assert "1 input day(s) changed from 2024-04-20" in step.reason
    step = plan(previous, "sig", inputs(141, d5="2:ff"), OPEN_DAYS)
    assert (step.start, step.keep) == (None, ())


def test_a_removed_or_older_day_counts_as_a_change():
    previous = manifest((0, 99), (100, 127), n_days=128)
    shorter = inputs(128)
    del shorter[day(120)]
    assert plan(previous, "sig", shorter, OPEN_DAYS).start == day(100)
    older = {day(-1): "1:00", **inputs(128)}  # history backfilled before the first day
    assert plan(previous, "sig", older, OPEN_DAYS).start is None


def test_a_segment_that_failed_its_check_is_never_kept():
    previous = manifest((0, 99), (100, 127), (128, 130), n_days=131, failed=100)
    step = plan(previous, "sig", inputs(131), OPEN_DAYS)
    assert (step.recompute, step.start) == (True, day(100))
    assert "segment from 2024-04-10 failed its check" in step.reason


def test_recoded_rows_recompute_from_their_first_day():
    previous = manifest((0, 99), (100, 127), (128, 130), n_days=131)
    step = plan(previous, "sig", inputs(131), OPEN_DAYS, recoded_from=day(129))
    assert (step.start, step.keep) == (day(128), previous.segments[:2])
    assert "rows recoded from 2024-05-09" in step.reason


def test_changed_keys_are_the_new_gone_and_different_ones():
    previous = Manifest("sig", {}, context={"item:a": "x", "item:b": "y", "store:s": ""})
    now = {"item:a": "x", "item:b": "z", "item:c": "x"}
    assert previous.changed_keys(now) == {"item:b", "item:c", "store:s"}


def test_manifest_round_trips_through_its_file_and_a_bad_file_reads_as_none(tmp_path):
    original = replace(
        manifest((0, 99), (100, 104), n_days=105, failed=100), context={"item:a": "Toys|T1"}
    )
    (tmp_path / MANIFEST).write_text(original.to_json())
    assert read_manifest(tmp_path) == original
    assert read_manifest(tmp_path / "missing") is None
    (tmp_path / MANIFEST).write_text('{"signature": "sig"')
    assert read_manifest(tmp_path) is None


@pytest.fixture
def conn():
    with duckdb.connect() as connection:
        connection.execute(
            "CREATE TABLE t AS SELECT * FROM (VALUES "
            "(DATE '2024-01-01', 'a', 1), (DATE '2024-01-01', 'b', 2), (DATE '2024-01-02', 'a', 3)"
            ") v(date, id, units)"
        )
        yield connection


def test_day_fingerprints_change_with_a_value_and_ignore_row_order(conn):
    before = day_fingerprints(conn, "t", ["id", "units"])
    assert sorted(before) == [day(0), day(1)]
    assert before[day(0)].startswith("2:")
    conn.execute("CREATE TABLE shuffled AS SELECT * FROM t ORDER BY id DESC")
    assert day_fingerprints(conn, "shuffled", ["id", "units"]) == before
    conn.execute("UPDATE t SET units = 4 WHERE id = 'b'")
    after = day_fingerprints(conn, "t", ["id", "units"])
    assert after[day(0)] != before[day(0)]
    assert after[day(1)] == before[day(1)]
