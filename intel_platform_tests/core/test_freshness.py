"""A late day makes a fresh-by-policy table stale, and on-call gets one alert record for it."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb

from intel_platform.core.freshness import build_freshness_alert_sensor, stale_alerts
from intel_platform.demand.definitions import defs as demand_defs
from intel_platform_tests.fixtures import START, run_demand, small_demand

POS = "demand/raw/pos_sales"


def _alerts(home) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        return conn.execute(
            "SELECT kind, asset, severity FROM platform_monitoring.alerts ORDER BY asset"
        ).fetchall()


def test_policy_windows_decide_warn_and_fail(home, instance):
    last = small_demand(home, days=3)
    run_demand(instance, START, last)
    graph = demand_defs().resolve_asset_graph()
    now = datetime.now(UTC)
    assert stale_alerts(graph, instance, "demand", now) == []
    warned = stale_alerts(graph, instance, "demand", now + timedelta(hours=25))
    assert {(a.asset, a.severity) for a in warned} >= {(POS, "WARN")}
    failed = stale_alerts(graph, instance, "demand", now + timedelta(hours=27))
    pos = next(a for a in failed if a.asset == POS)
    assert pos.severity == "ERROR" and pos.kind == "freshness"
    assert "h ago" in pos.reason and pos.link.endswith(pos.run_id)


def test_late_day_writes_one_freshness_alert_per_stale_table(home, instance):
    last = small_demand(home, days=3)
    run_demand(instance, START, last)  # then the next day's files never come
    location = demand_defs()
    later = build_freshness_alert_sensor(
        "demand", name="late", clock=lambda: datetime.now(UTC) + timedelta(hours=27)
    )
    defs = dg.Definitions.merge(location, dg.Definitions(sensors=[later]))
    context = dg.build_sensor_context(instance=instance, definitions=defs,
                                      resources=dict(location.resources))  # fmt: skip
    later.evaluate_tick(context)
    rows = _alerts(home)
    assert ("freshness", POS, "ERROR") in rows
    assert ("freshness", "demand/harmonized/sales", "ERROR") in rows
    again = dg.build_sensor_context(instance=instance, definitions=defs, cursor=context.cursor,
                                    resources=dict(location.resources))  # fmt: skip
    later.evaluate_tick(again)
    assert _alerts(home) == rows  # the same stale state is not alerted twice
