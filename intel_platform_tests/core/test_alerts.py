"""The alert record and its sinks without Dagster: idempotent recording, one-line reasons."""

from datetime import UTC, datetime

import duckdb

from intel_platform.core.alerts import Alert, one_line, record_alerts


def test_record_alerts_is_idempotent_per_kind_run_asset_check():
    alert = Alert(
        time=datetime(2024, 3, 9, 3, 0, tzinfo=UTC),
        product="shop",
        kind="check_failure",
        asset="shop/raw/orders",
        severity="WARN",
        reason="Failed",
        run_id="r1",
        link="http://127.0.0.1:3000/runs/r1",
        check_name="orders_units",
    )
    with duckdb.connect() as conn:
        assert record_alerts(conn, [alert, alert]) == 1
        assert record_alerts(conn, [alert]) == 0
        assert record_alerts(conn, [Alert.from_json({**alert.to_json(), "run_id": "r2"})]) == 1


def test_one_line_keeps_the_line_after_a_colon_and_drops_module_paths():
    message = (
        "dagster._core.errors.DagsterAssetCheckFailedError: 1 blocking asset check failed "
        "with ERROR severity:\ndemand/harmonized/sales: sales_completeness\n"
    )
    assert one_line(message) == (
        "DagsterAssetCheckFailedError: 1 blocking asset check failed with ERROR severity: "
        "demand/harmonized/sales: sales_completeness"
    )
