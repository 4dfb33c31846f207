"""Both alert sensors on real Dagster objects: a failed check in a green run, a failed run, the
webhook (a loopback server), a busy warehouse, and the demand weekend drop."""

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import polars as pl
import pytest
from dagster._core.definitions.sensor_definition import SensorExecutionData
from dagster_duckdb import DuckDBResource

from intel_platform.core.alert_sensors import (
    build_check_failure_alert_sensor,
    build_run_failure_alert_sensor,
)
from intel_platform.core.alerts import ALERTS_TABLE, WEBHOOK_ENV
from intel_platform.core.home import ProjectHome
from intel_platform.demand.definitions import defs as demand_defs
from intel_platform_tests.fixtures import (
    START,
    pos_files,
    query,
    rewrite_csv,
    run_demand,
    small_demand,
)

ORDERS = dg.AssetKey(["shop", "raw", "orders"])
STORES = dg.AssetKey(["shop", "raw", "stores"])
WHAT_TO_DO = "Ask the shop team to resend the export, then re-materialize shop/raw/orders."
CHECK_SENSOR = build_check_failure_alert_sensor("shop")
RUN_SENSOR = build_run_failure_alert_sensor("shop")


@dg.asset(
    key=ORDERS,
    check_specs=[
        dg.AssetCheckSpec(
            "orders_units", asset=ORDERS, blocking=False, metadata={"what_to_do": WHAT_TO_DO}
        ),
        dg.AssetCheckSpec("orders_present", asset=ORDERS),
    ],
)
def orders() -> dg.MaterializeResult:
    """Materializes fine; one non-blocking WARN check fails, one passes: a green run."""
    failed = dg.AssetCheckResult(
        check_name="orders_units",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description="Failed negative_units: 3 in 2024-03-09.",
        metadata={"failed_partitions": "2024-03-09", "failed_files": "orders/2024-03-09.csv"},
    )
    passed = dg.AssetCheckResult(check_name="orders_present", passed=True)
    return dg.MaterializeResult(check_results=[failed, passed])


@dg.asset(key=STORES)
def stores() -> None:
    raise ValueError("stores.csv has no header row\nsecond line of detail")


_ENTERED, _RELEASE = threading.Event(), threading.Event()
GATED = dg.AssetKey(["shop", "raw", "gated"])


@dg.asset(key=GATED, check_specs=[dg.AssetCheckSpec("gated_units", asset=GATED)])
def gated() -> dg.MaterializeResult:
    """Holds its run open (bounded) so a tick can look while the check is still planned."""
    _ENTERED.set()
    _RELEASE.wait(timeout=30)
    failed = dg.AssetCheckResult(check_name="gated_units", passed=False, description="Failed.")
    return dg.MaterializeResult(check_results=[failed])


@pytest.fixture
def warehouse(home: ProjectHome) -> DuckDBResource:
    return DuckDBResource(database=str(home.warehouse))


def _shop(warehouse: DuckDBResource) -> dg.Definitions:
    return dg.Definitions(
        assets=[orders, stores, gated], sensors=[CHECK_SENSOR], resources={"warehouse": warehouse}
    )


@pytest.fixture
def defs(warehouse: DuckDBResource) -> dg.Definitions:
    return _shop(warehouse)


def _alerts(home: ProjectHome) -> pl.DataFrame:
    return query(home, f"SELECT * FROM {ALERTS_TABLE} ORDER BY time, asset, check_name")


def _tick(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    cursor: str | None = None,
    sensor: dg.SensorDefinition = CHECK_SENSOR,
) -> SensorExecutionData:
    """One tick as the daemon runs it: the location's definitions and its top-level resources
    (``build_sensor_context`` does not pull those from ``definitions`` by itself)."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources=dict(defs.resources or {})
    )
    return sensor.evaluate_tick(context)


def test_failed_check_in_a_green_run_is_alerted_once_with_what_to_do(home, instance, defs):
    result = dg.materialize([orders], instance=instance)
    assert result.success  # the run is green: a run-failure sensor would stay silent
    first = _tick(defs, instance)
    rows = _alerts(home)
    assert rows.height == 1  # the passing check made no row
    alert = rows.row(0, named=True)
    assert alert["kind"] == "check_failure" and alert["product"] == "shop"
    assert (alert["asset"], alert["check_name"]) == ("shop/raw/orders", "orders_units")
    assert alert["severity"] == "WARN" and alert["partition"] == "2024-03-09"
    assert alert["what_to_do"] == WHAT_TO_DO  # from the check spec's metadata
    assert alert["link"] == f"http://127.0.0.1:3000/runs/{result.run_id}"
    assert alert["reason"] == (
        "Failed negative_units: 3 in 2024-03-09.; files: orders/2024-03-09.csv"
    )
    assert "shop/raw/orders:orders_units" in first.skip_message

    second = _tick(defs, instance, first.cursor)
    assert _alerts(home).height == 1 and second.skip_message == "No new failed check."
    rerun = dg.materialize([orders], instance=instance)
    _tick(defs, instance, second.cursor)
    assert _alerts(home)["run_id"].to_list() == [result.run_id, rerun.run_id]


def test_failed_run_is_alerted_with_the_errors_first_line(home, instance, warehouse):
    context = dg.build_sensor_context(instance=instance, resources={"warehouse": warehouse})
    started = RUN_SENSOR.evaluate_tick(context)  # the first tick only sets the cursor
    result = dg.materialize([orders, stores], instance=instance, raise_on_error=False)
    assert not result.success
    context = dg.build_sensor_context(
        instance=instance, cursor=started.cursor, resources={"warehouse": warehouse}
    )
    after = RUN_SENSOR.evaluate_tick(context)
    rows = _alerts(home).filter(pl.col("kind") == "run_failure")
    assert rows.height == 1
    alert = rows.row(0, named=True)
    assert alert["asset"] == "shop/raw/stores" and alert["check_name"] is None
    assert alert["reason"] == "ValueError: stores.csv has no header row"
    assert alert["severity"] == "ERROR" and alert["run_id"] == result.run_id
    assert alert["link"].endswith(f"/runs/{result.run_id}")
    context = dg.build_sensor_context(
        instance=instance, cursor=after.cursor, resources={"warehouse": warehouse}
    )
    RUN_SENSOR.evaluate_tick(context)
    assert _alerts(home).filter(pl.col("kind") == "run_failure").height == 1


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A loopback Slack stand-in: records each JSON body, answers 200."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_a_check_evaluated_after_a_tick_during_its_run_is_still_alerted(home, warehouse):
    """Dagster writes the execution row PLANNED at run start and updates it in place: a tick
    during the run must not move the cursor past it."""
    _ENTERED.clear()
    _RELEASE.clear()
    defs = _shop(warehouse)
    with dg.instance_for_test() as instance:
        idle = _tick(defs, instance)
        runner = threading.Thread(
            target=dg.materialize, args=([gated],), kwargs={"instance": instance}
        )
        runner.start()
        try:
            assert _ENTERED.wait(timeout=30)
            during = _tick(defs, instance, idle.cursor)
        finally:
            _RELEASE.set()
            runner.join(timeout=60)
        assert during.skip_message == "No new failed check."
        after = _tick(defs, instance, during.cursor)
    assert after.skip_message == "Alerted 1: shop/raw/gated:gated_units"
    assert _alerts(home)["check_name"].to_list() == ["gated_units"]


def test_webhook_receives_asset_check_and_what_to_do(home, instance, defs, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv(WEBHOOK_ENV, url)
    dg.materialize([orders], instance=instance)
    cursor = _tick(defs, instance).cursor
    assert len(received) == 1
    text = received[0]["text"]
    assert "shop/raw/orders" in text and "orders_units" in text and WHAT_TO_DO in text
    assert received[0]["blocks"][0]["type"] == "section"
    _tick(defs, instance, cursor)
    assert len(received) == 1  # nothing new, nothing posted


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_webhook_still_records_and_does_not_raise(home, instance, defs, monkeypatch):
    monkeypatch.setenv(WEBHOOK_ENV, f"http://127.0.0.1:{_closed_port()}/hook")
    dg.materialize([orders], instance=instance)
    data = _tick(defs, instance)
    assert _alerts(home)["check_name"].to_list() == ["orders_units"]
    assert "orders_units" in data.skip_message


def test_busy_warehouse_delays_the_row_not_the_page(home, instance, defs, webhook, monkeypatch):
    url, received = webhook
    monkeypatch.setenv(WEBHOOK_ENV, url)
    dg.materialize([orders], instance=instance)
    unusable = DuckDBResource(database=str(home.root))  # a folder: DuckDB cannot open it
    first = _tick(_shop(unusable), instance)
    assert len(received) == 1 and len(json.loads(first.cursor)["unrecorded"]) == 1
    second = _tick(defs, instance, first.cursor)
    assert _alerts(home)["check_name"].to_list() == ["orders_units"]
    assert json.loads(second.cursor)["unrecorded"] == [] and len(received) == 1


def test_weekend_drop_in_demand_alerts_sales_completeness_with_partitions(home, instance):
    last = small_demand(home)
    weekend = [START + timedelta(days=5), START + timedelta(days=6)]
    dropped_items = [f"I{n:05d}" for n in range(1, 6)]
    for day in weekend:
        for path in pos_files(home, day):
            rewrite_csv(path, lambda f: f.filter(~pl.col("item_id").is_in(dropped_items)))
    defs = demand_defs()  # the location wires both alert sensors itself
    checks = defs.resolve_sensor_def("demand_check_failure_alerts")
    runs = defs.resolve_sensor_def("demand_run_failure_alerts")
    resources = dict(defs.resources or {})
    started = runs.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))
    run = run_demand(instance, START, last)
    _tick(defs, instance, sensor=checks)
    context = dg.build_sensor_context(instance=instance, cursor=started.cursor, resources=resources)
    runs.evaluate_tick(context)
    rows = _alerts(home).filter(pl.col("check_name") == "sales_completeness")
    assert rows.height == 1
    alert = rows.row(0, named=True)
    partitions = ", ".join(day.isoformat() for day in weekend)
    assert alert["product"] == "demand" and alert["asset"] == "demand/harmonized/sales"
    assert alert["partition"] == partitions and partitions in alert["reason"]
    assert "pos_sales" in alert["what_to_do"] and alert["run_id"] == run.run_id
    assert alert["severity"] == "ERROR"
    failed_run = _alerts(home).filter(pl.col("kind") == "run_failure").row(0, named=True)
    assert failed_run["asset"] == "demand/harmonized/sales" and failed_run["run_id"] == run.run_id
    assert "blocking asset check failed" in failed_run["reason"]
    assert "sales_completeness" in failed_run["reason"]
    assert failed_run["partition"] == f"{START.isoformat()}...{last.isoformat()}"
