"""The churn landing sensor on a small landing zone, ticked as the daemon would tick it, against
stub assets with the churn raw and harmonized keys (the real layers are tested on their own)."""

import time
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from intel_platform.churn import landing
from intel_platform.churn.partitions import DAILY
from intel_platform.churn.sensors import (
    INGEST_KEYS,
    INGEST_SELECTION,
    RUN_TAGS,
    SENSORS,
    churn_landing_sensor,
)
from intel_platform.core.landing import IN_FLIGHT_SUFFIX, publish
from intel_platform.core.landing_sensor import LandingCursor
from intel_platform.core.resources import ProjectHomeResource

D1, D2, D3 = date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)


def _stub(key: dg.AssetKey) -> dg.AssetsDefinition:
    @dg.asset(key=key, partitions_def=DAILY)
    def _table() -> None:
        """Stands for a churn raw or harmonized table."""

    return _table


@pytest.fixture
def location(home) -> dg.Definitions:
    return dg.Definitions(
        assets=[_stub(key) for key in INGEST_KEYS],
        sensors=SENSORS,
        resources={"project_home": ProjectHomeResource(path=str(home.root))},
    )


@pytest.fixture
def tick(location, instance):
    def _tick(cursor: str | None):
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=location, resources=location.resources
        )
        return churn_landing_sensor.evaluate_tick(context)

    return _tick


def _land(path: Path, text: str = '{"user_id": "u1"}\n') -> Path:
    time.sleep(0.02)  # a new mtime even on a coarse file-system clock
    return publish(path, lambda tmp: tmp.write_text(text))


def _days(result) -> list[str]:
    return [request.partition_key for request in result.run_requests]


@pytest.fixture
def landed(home):
    """Usage for D1 and D2 (D1 with its billing file too); D3 has only billing so far."""
    _land(landing.usage_file(home, D1))
    _land(landing.subscriptions_file(home, D1), "event_id,account_id\n")
    _land(landing.usage_file(home, D2))
    _land(landing.subscriptions_file(home, D3), "event_id,account_id\n")
    return home


def test_each_day_with_usage_runs_once_and_a_day_without_usage_waits_named(landed, tick):
    first = tick(None)
    assert _days(first) == [D1.isoformat(), D2.isoformat()]
    cursor = LandingCursor.from_json(first.cursor)
    for request in first.run_requests:
        digest = cursor.fingerprints[request.partition_key]
        assert request.run_key == f"{request.partition_key}:{digest[:12]}"
        assert request.asset_selection == INGEST_KEYS
        assert request.tags.items() >= RUN_TAGS.items()
    second = tick(first.cursor)
    assert second.run_requests == []
    assert f"{D3} waits for usage/{D3}.jsonl" in second.skip_message


def test_a_part_file_is_ignored_until_it_is_renamed_into_place(landed, tick):
    cursor = tick(None).cursor
    usage = landing.usage_file(landed, D3)
    in_flight = usage.with_name(usage.name + IN_FLIGHT_SUFFIX)
    in_flight.write_text('{"user_id": "u2"}\n')
    assert tick(cursor).run_requests == []
    in_flight.replace(usage)
    published = tick(cursor)
    assert _days(published) == [D3.isoformat()]
    assert tick(published.cursor).run_requests == []


def test_a_late_or_changed_file_reruns_its_day_exactly_once(landed, tick):
    first = tick(None)
    _land(landing.tickets_file(landed, D1), "late help-desk export")  # late optional source
    late = tick(first.cursor)
    assert _days(late) == [D1.isoformat()]
    assert late.run_requests[0].run_key != first.run_requests[0].run_key
    assert tick(late.cursor).run_requests == []
    _land(landing.usage_file(landed, D2), '{"user_id": "u1"}\n{"user_id": "u3"}\n')  # corrected
    changed = tick(late.cursor)
    assert _days(changed) == [D2.isoformat()]
    assert tick(changed.cursor).run_requests == []
    # Crash before the cursor was stored: the same files come back with the same run key,
    # which the daemon has launched already and skips.
    assert [r.run_key for r in tick(late.cursor).run_requests] == [
        r.run_key for r in changed.run_requests
    ]


def test_an_empty_landing_zone_skips_with_a_reason(home, tick):
    result = tick(None)
    assert result.run_requests == []
    assert result.skip_message == "No new or changed complete day."


def test_sensor_targets_the_churn_ingest_assets_and_its_request_runs(landed, tick, location):
    graph = location.resolve_asset_graph()
    assert set(INGEST_SELECTION.resolve(graph)) == set(INGEST_KEYS)
    assert len(INGEST_KEYS) == 9
    sensor = location.resolve_sensor_def("churn_landing_sensor")
    assert sensor.minimum_interval_seconds == 30
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    request = tick(None).run_requests[0]
    job = location.resolve_implicit_global_asset_job_def()  # what the daemon launches
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        partition_key=request.partition_key,
        asset_selection=request.asset_selection,
        tags=request.tags,
    )
    assert result.success
    assert len(result.get_asset_materialization_events()) == len(INGEST_KEYS)
