"""The demand landing sensor on a generated landing zone, ticked as the daemon would tick it."""

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from intel_platform.core.home import ProjectHome
from intel_platform.core.landing import IN_FLIGHT_SUFFIX, publish
from intel_platform.core.landing_sensor import LandingCursor
from intel_platform.demand import landing
from intel_platform.demand.definitions import defs as demand_defs
from intel_platform.demand.sensors import (
    INGEST_KEYS,
    INGEST_SELECTION,
    RUN_TAGS,
    SENSORS,
    demand_landing_sensor,
    expected_stores,
    plan_landing,
    store_openings,
)
from intel_platform_tests.fixtures import START, query, small_demand

DAYS = [START + timedelta(days=i) for i in range(14)]  # small_demand's 14 days
LATE_STORE_DAY = START + timedelta(days=6)


@pytest.fixture
def location(home) -> dg.Definitions:
    """The demand location as the integrator will wire it: its assets, resources and SENSORS."""
    loc = demand_defs()
    return dg.Definitions(assets=loc.assets, sensors=SENSORS, resources=loc.resources)


@pytest.fixture
def tick(location, instance):
    """``tick(cursor)`` evaluates the sensor once; the daemon would persist the new cursor."""

    def _tick(cursor: str | None):
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=location, resources=location.resources
        )
        return demand_landing_sensor.evaluate_tick(context)

    return _tick


def _days(result) -> list[str]:
    return [request.partition_key for request in result.run_requests]


def _republish(path: Path, data: bytes | None = None) -> None:
    """Land ``path`` again the way writers do (``.part`` then rename), same bytes by default."""
    data = path.read_bytes() if data is None else data
    time.sleep(0.02)  # a new mtime even on a coarse file-system clock
    publish(path, lambda tmp: tmp.write_bytes(data))


def _hold_back(home: ProjectHome, day: date, store: str, aside: Path) -> Path:
    """Move a store's file out of the landing zone: the store is late."""
    return landing.pos_file(home, day, store).rename(aside / f"{store}.csv")


def test_first_tick_requests_every_complete_day_once_and_the_second_nothing(home, tick):
    small_demand(home)
    first = tick(None)
    assert _days(first) == [day.isoformat() for day in DAYS]
    cursor = LandingCursor.from_json(first.cursor)
    for request in first.run_requests:
        digest = cursor.fingerprints[request.partition_key]
        assert request.run_key == f"{request.partition_key}:{digest[:12]}"
        assert request.tags.items() >= RUN_TAGS.items()
        assert request.asset_selection == INGEST_KEYS
    second = tick(first.cursor)
    assert second.run_requests == []
    assert second.skip_message == "No new or changed complete day."


def test_restarted_daemon_with_its_cursor_or_an_older_one_launches_no_duplicate(home, tick):
    small_demand(home)
    first = tick(None)
    assert tick(first.cursor).run_requests == []  # restart: the persisted cursor
    _republish(landing.ecom_file(home, DAYS[3]), b"")  # a corrected web-order file
    late = tick(first.cursor)
    assert _days(late) == [DAYS[3].isoformat()]
    # Crash before the new cursor was stored: the same day comes back with the same run key,
    # which the daemon has already launched and therefore skips.
    again = tick(first.cursor)
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in late.run_requests]
    assert tick(late.cursor).run_requests == []


def test_a_file_in_flight_does_not_trigger_until_it_is_renamed_into_place(home, tick):
    small_demand(home)
    cursor = tick(None).cursor
    corrected = landing.pos_file(home, DAYS[5], "S01")
    in_flight = corrected.with_name(corrected.name + IN_FLIGHT_SUFFIX)
    in_flight.write_bytes(corrected.read_bytes() + b"\n")
    assert tick(cursor).run_requests == []
    in_flight.replace(corrected)
    published = tick(cursor)
    assert _days(published) == [DAYS[5].isoformat()]


def test_a_late_store_holds_its_day_back_named_then_triggers_exactly_once(home, tick, tmp_path):
    small_demand(home)
    late_file = _hold_back(home, LATE_STORE_DAY, "S02", tmp_path)
    first = tick(None)
    assert LATE_STORE_DAY.isoformat() not in _days(first)
    assert len(first.run_requests) == len(DAYS) - 1
    waiting = tick(first.cursor)
    assert waiting.run_requests == []
    assert f"{LATE_STORE_DAY} waits for S02" in waiting.skip_message

    publish(landing.pos_file(home, LATE_STORE_DAY, "S02"), late_file.rename)
    landed = tick(waiting.cursor)
    assert _days(landed) == [LATE_STORE_DAY.isoformat()]
    assert tick(landed.cursor).run_requests == []


def test_an_identical_file_dropped_again_reingests_its_day_once(home, tick):
    """Decision: the fingerprint is (name, size, mtime), so same bytes with a new mtime is a
    new drop. One re-ingest is cheaper than hashing every file on every tick, and idempotent."""
    small_demand(home)
    first = tick(None)
    _republish(landing.inventory_file(home, DAYS[2]))
    redropped = tick(first.cursor)
    assert _days(redropped) == [DAYS[2].isoformat()]
    assert redropped.run_requests[0].run_key != first.run_requests[2].run_key
    assert tick(redropped.cursor).run_requests == []


def test_days_before_the_partitions_or_not_yet_open_are_left_alone(home, tick):
    small_demand(home)
    stores = landing.stores_file(home)  # S01, S02 open since 2010: dates decide
    publish(
        stores, lambda tmp: tmp.write_text(stores.read_text().replace("2024-03-04", "2010-01-01"))
    )
    today = datetime.now(UTC).date()
    for day in (date(2010, 12, 31), today):  # the partitions start on 2011-01-01
        for store in ("S01", "S02", "S03"):
            data = landing.pos_file(home, DAYS[-1], store).read_bytes()
            publish(landing.pos_file(home, day, store), lambda tmp, d=data: tmp.write_bytes(d))
    first = tick(None)
    assert _days(first) == [day.isoformat() for day in DAYS]
    later = tick(first.cursor)
    assert later.run_requests == []
    assert f"partition not open yet (midnight UTC): {today}" in later.skip_message


def test_without_the_store_list_no_day_is_complete_and_the_sensor_says_why(home, tick):
    small_demand(home)
    landing.stores_file(home).unlink()
    result = tick(None)
    assert result.run_requests == []
    assert "stores.csv is missing" in result.skip_message
    assert result.cursor is None  # nothing was read, so nothing is forgotten
    landing.stores_file(home).write_text("")
    assert "lists no store with an open_date" in tick(None).skip_message


def test_store_list_is_read_with_its_aliases_and_a_bad_date_expects_no_file(tmp_path):
    path = tmp_path / "stores.csv"
    path.write_text(
        "store,store_name,state,opened\n"
        "S01,One,CA,2024-03-04\n"
        "S02,Two,TX,someday\n"  # quarantined by harmonize: no file expected either
        "S01,Dup,CA,2020-01-01\n"  # the first row per store counts, as in harmonize
        " S03 ,Three,WI,2024-03-07T08:00\n"
    )
    openings = store_openings(path)
    assert expected_stores(openings, date(2024, 3, 6)) == ["S01"]
    assert expected_stores(openings, date(2024, 3, 7)) == ["S01", "S03"]
    assert store_openings(tmp_path / "absent.csv") is None
    path.write_text("")
    assert store_openings(path).is_empty()


def test_scan_reads_the_window_and_changed_days_only(home):
    """A long history is not reread each tick: outside the window, only a day whose folder
    changed since the previous scan is opened, and it is forgotten again afterwards."""
    small_demand(home)
    openings = store_openings(landing.stores_file(home))
    plan = lambda cursor: plan_landing(  # noqa: E731
        home, openings, cursor, now=datetime.now(UTC), window_days=3, slack_ns=0
    )
    first = plan(LandingCursor())
    assert [r.partition_key for r in first.requests] == [d.isoformat() for d in DAYS[-3:]]
    assert plan(first.cursor).requests == []

    time.sleep(0.02)
    _republish(landing.pos_file(home, DAYS[1], "S01"))
    late = plan(first.cursor)
    assert [r.partition_key for r in late.requests] == [DAYS[1].isoformat()]
    after = plan(late.cursor)
    assert after.requests == []
    assert sorted(after.cursor.fingerprints) == [d.isoformat() for d in DAYS[-3:]]


def test_sensor_targets_assets_of_the_location_and_ticks_every_30_seconds(location):
    graph = location.resolve_asset_graph()
    assert set(INGEST_SELECTION.resolve(graph)) == set(INGEST_KEYS)
    sensor = location.resolve_sensor_def("demand_landing_sensor")
    assert sensor.minimum_interval_seconds == 30
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def _count(home: ProjectHome, table: str) -> int:
    return query(home, f"SELECT count(*) AS n FROM {table}")["n"].item()


def test_requested_run_ingests_and_harmonizes_its_day(home, tick, location, instance):
    small_demand(home)
    day = DAYS[5]  # a day with POS files and web orders
    request = next(r for r in tick(None).run_requests if r.partition_key == day.isoformat())
    job = location.resolve_implicit_global_asset_job_def()  # what the daemon launches
    result = job.execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        asset_selection=request.asset_selection,
        tags=request.tags,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    assert result.success
    sales = query(home, "SELECT date, source, count(*) AS n FROM demand_harmonized.sales "
                        "GROUP BY ALL ORDER BY source")  # fmt: skip
    assert sales["date"].to_list() == [day, day]
    assert sales["source"].to_list() == ["ecom", "pos"]
    raw = _count(home, "demand_raw.pos_sales") + _count(home, "demand_raw.ecom_orders")
    assert sales["n"].sum() + _count(home, "demand_harmonized.sales_quarantine") == raw
