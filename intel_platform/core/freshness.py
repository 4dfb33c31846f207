"""Freshness alerts: a table users depend on that stopped being refreshed (the stale pipeline).

The daemon evaluates each asset's ``FreshnessPolicy`` for the UI; this sensor turns the same
declared windows into on-call alerts through the shared sinks (alerts table, log, webhook), so
a late day pages somebody instead of only turning a badge red. An asset is stale when its
newest materialization is older than the policy's fail window (warn window: a WARN alert). One
alert per asset and stale materialization: the alert's identity is that materialization's run.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph

from intel_platform.core.alerts import Alert, deliver, run_link


def stale_alerts(
    graph: BaseAssetGraph, instance: dg.DagsterInstance, product: str, now: datetime
) -> list[Alert]:
    """Alerts for every asset with a time-window freshness policy older than its windows."""
    alerts = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        policy = graph.get(key).freshness_policy
        fail = getattr(policy, "fail_window", None)
        if fail is None:
            continue
        event = instance.get_latest_materialization_event(key)
        if event is None:
            continue  # never built: a missing asset, not a stale one
        built = datetime.fromtimestamp(event.timestamp, UTC)
        age = now - built
        warn = getattr(policy, "warn_window", None)
        windows = [("ERROR", fail.to_timedelta())]
        if warn is not None:
            windows.append(("WARN", warn.to_timedelta()))
        severity = next((level for level, window in windows if age > window), None)
        if severity is not None:
            alerts.append(_alert(product, key, severity, age, built, event.run_id, now))
    return alerts


def _alert(
    product: str, key: dg.AssetKey, severity: str, age: timedelta, built: datetime,
    run_id: str, now: datetime,
) -> Alert:  # fmt: skip
    hours = age.total_seconds() / 3600
    return Alert(
        time=now.replace(tzinfo=None),
        product=product,
        kind="freshness",
        asset=key.to_user_string(),
        severity=severity,
        reason=f"last materialized {hours:.1f} h ago ({built:%Y-%m-%d %H:%M} UTC)",
        run_id=run_id,
        link=run_link(run_id),
        what_to_do="Find the upstream run or sensor that stopped (landing files late? a failed "
        "run? a blocking check?) in the UI, fix it, and re-materialize; data_as_of on the "
        "tables says which day users are looking at meanwhile.",
    )


def build_freshness_alert_sensor(
    product: str,
    *,
    warehouse_resource_key: str = "warehouse",
    name: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dg.SensorDefinition:
    """Checks every 10 minutes; alerts once per stale materialization (cursor: alerted ids).
    ``clock`` exists so a drill can look a day ahead without waiting a day."""

    @dg.sensor(
        name=name or f"{product}_freshness_alerts",
        minimum_interval_seconds=600,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={warehouse_resource_key},
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        alerted = set((context.cursor or "").split(",")) - {""}
        found = stale_alerts(context.repository_def.asset_graph, context.instance, product, clock())
        new = [a for a in found if f"{a.asset}@{a.run_id}:{a.severity}" not in alerted]
        if new:
            deliver(context.log, getattr(context.resources, warehouse_resource_key), new)
        current = {f"{a.asset}@{a.run_id}:{a.severity}" for a in found}
        context.update_cursor(",".join(sorted(current)))
        return dg.SkipReason(f"{len(new)} new stale assets, {len(found)} stale in all")

    return _sensor
