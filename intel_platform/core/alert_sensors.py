"""On-call's two alert sensors: a failed run and a failed asset check both become ``Alert`` rows.

A non-blocking check that fails does not fail its run, so a run-failure sensor never sees it
(dagster-io/dagster#29896, #22964): the run is green while the data is wrong, on-call's worst
case. Hence two paths, built per product (sensors cannot cross code locations):
``build_run_failure_alert_sensor`` reacts to failed runs, ``build_check_failure_alert_sensor``
reads check evaluations from the instance itself. Both hand their alerts to
``intel_platform.core.alerts.deliver`` (log, ``platform_monitoring.alerts``, webhook); split
from that module because scanning runs and check history is a concern of its own.
"""

import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from intel_platform.core.alerts import ALERTS_TABLE, Alert, deliver, one_line, run_link
from intel_platform.core.runs import RANGE_END_TAG, RANGE_START_TAG

RUN_WHAT_TO_DO = (
    "Open the run, read the failed step's error, fix the cause, then re-execute the run from "
    "failure (or re-materialize the failed partitions)."
)
_MAX_ROWS = 2000  # check executions read per check per tick
_MAX_SEEN = 1000  # settled ids kept above an evaluation whose run is still going
_PENDING = AssetCheckExecutionRecordStatus.PLANNED
_FAILED = AssetCheckExecutionRecordStatus.FAILED
_LOG = logging.getLogger(__name__)


# --- failed runs ------------------------------------------------------------------------------


def run_failure_alerts(context: dg.RunFailureSensorContext, product: str) -> list[Alert]:
    """One alert per asset of each failed step, the error's first line as reason; when no step
    failed (a launch or resource error) one alert naming the run's selection or job."""
    run = context.dagster_run
    record = context.instance.get_run_record_by_id(run.run_id)
    end = record.end_time if record else None
    step_assets = _step_assets(context.instance, run)
    found: list[tuple[str, str]] = []
    for event in context.get_step_failure_events():
        reason = _step_reason(event)
        found += [(asset, reason) for asset in step_assets.get(event.step_key or "", [])]
    if not found:
        selection = sorted(key.to_user_string() for key in run.asset_selection or ())
        asset = ", ".join(selection[:10]) + (" …" if len(selection) > 10 else "")
        found = [(asset or run.job_name, one_line(context.failure_event.message) or "run failed")]
    time = datetime.fromtimestamp(end, UTC) if end else datetime.now(UTC)
    first, last = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
    partition = run.tags.get("dagster/partition") or (f"{first}...{last}" if first else None)
    base = Alert(time, product, "run_failure", "", "ERROR", "", run.run_id, run_link(run.run_id),
                 partition=partition, what_to_do=RUN_WHAT_TO_DO)  # fmt: skip
    return [replace(base, asset=asset, reason=reason) for asset, reason in dict.fromkeys(found)]


def _step_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict[str, list[str]]:
    """Step key -> assets it materializes, from the run's execution plan snapshot (an ad-hoc
    ``materialize`` run has an empty asset selection)."""
    if not run.execution_plan_snapshot_id:
        return {}
    plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
    return {
        step.key: [
            out.properties.asset_key.to_user_string()
            for out in step.outputs
            if out.properties and out.properties.asset_key
        ]
        for step in plan.steps
    }


def _step_reason(event: dg.DagsterEvent) -> str:
    """``dg.Failure``'s description, else the error's cause (Dagster wraps user errors)."""
    data = event.step_failure_data
    if data.user_failure_data and data.user_failure_data.description:
        return one_line(data.user_failure_data.description)
    return one_line((data.error.cause or data.error).message) if data.error else "step failed"


def build_run_failure_alert_sensor(
    product: str, warehouse_resource_key: str = "warehouse", *, name: str | None = None
) -> dg.RunStatusSensorDefinition:
    """Alerts for every failed run of the location's jobs, on by default. Built as
    ``@run_failure_sensor`` builds it, plus ``required_resource_keys``: the decorator only takes
    resources as named parameters, and the key here is configurable."""

    def _alert_on_failure(context: dg.RunStatusSensorContext, **_resources: object) -> None:
        alerts = run_failure_alerts(context.for_run_failure(), product)
        deliver(context.log, getattr(context.resources, warehouse_resource_key), alerts)

    return dg.RunStatusSensorDefinition(
        name=name or f"{product}_run_failure_alerts",
        run_status=dg.DagsterRunStatus.FAILURE,
        run_status_sensor_fn=_alert_on_failure,
        description=f"Alerts on-call when a {product} run fails ({ALERTS_TABLE}, webhook).",
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={warehouse_resource_key},
    )


# --- failed checks ----------------------------------------------------------------------------


def check_alert(record: AssetCheckExecutionRecord, product: str, what_to_do: str = "") -> Alert:
    """A failed evaluation as an alert: description (or what_failed), partitions and files fold
    into the reason; the evaluation's ``what_to_do`` metadata wins over the spec's."""
    entry = record.event
    if entry is None:
        raise ValueError(f"{record.key.to_user_string()}: execution {record.id} has no event")
    evaluation = entry.get_dagster_event().asset_check_evaluation_data
    meta = {key: _text(value) for key, value in evaluation.metadata.items()}
    partitions = evaluation.partition or meta.get("failed_partitions")
    reason = evaluation.description or _flatten(meta.get("what_failed")) or "check failed"
    if partitions and partitions not in reason:
        reason += f"; partitions: {partitions}"
    if files := meta.get("failed_files"):
        reason += f"; files: {files}"
    return Alert(
        time=datetime.fromtimestamp(entry.timestamp, UTC),
        product=product,
        kind="check_failure",
        asset=record.key.asset_key.to_user_string(),
        check_name=record.key.name,
        partition=partitions,
        severity=evaluation.severity.value,
        reason=one_line(reason),
        what_to_do=one_line(meta.get("what_to_do") or what_to_do, limit=1000),
        run_id=record.run_id,
        link=run_link(record.run_id),
    )


def _text(value: object) -> str | None:
    """A metadata value as text; empty and the checks' ``n/a`` count as absent."""
    text = str(getattr(value, "value", value) or "").strip()
    return text if text and text != "n/a" else None


def _flatten(markdown: str | None) -> str:
    """A ``| rule | count |`` table as ``rule: count, ...`` (header and rule line dropped)."""
    rows = [line for line in (markdown or "").splitlines() if line.startswith("|")][2:]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    return ", ".join(": ".join(c for c in row if c) for row in cells) or (markdown or "")


def _history_after(
    instance: dg.DagsterInstance, key: dg.AssetCheckKey, after: int
) -> list[AssetCheckExecutionRecord]:
    """Executions of ``key`` with id > ``after``, oldest first; at most _MAX_ROWS, so a tick
    stays bounded after a long daemon outage (older ones are then skipped, with a warning)."""
    page = instance.event_log_storage.get_asset_check_execution_history(key, limit=_MAX_ROWS)
    if len(page) == _MAX_ROWS and page[-1].id > after:
        _LOG.warning(f"{key.to_user_string()}: over {_MAX_ROWS} new executions, older skipped")
    return [row for row in reversed(page) if row.id > after]


def _scan(
    instance: dg.DagsterInstance,
    key: dg.AssetCheckKey,
    state: Mapping[str, Any],
    finished: Callable[[str], bool],
) -> tuple[list[AssetCheckExecutionRecord], dict[str, Any]]:
    """Failed executions not seen yet, and the check's new state. Dagster inserts a row PLANNED
    when a run starts and updates it in place, so the watermark ``after`` only passes settled
    rows (evaluated, or their run over); ``seen`` holds settled ids above a pending one."""
    after, seen = int(state["after"]), set(state["seen"])
    rows = _history_after(instance, key, after)
    failed = []
    for row in rows:
        if row.id in seen or (row.status == _PENDING and not finished(row.run_id)):
            continue
        seen.add(row.id)
        if row.status == _FAILED and row.event is not None:
            failed.append(row)
    for row in rows:
        if row.id not in seen:
            break
        after = row.id
        seen.discard(row.id)
    if len(seen) > _MAX_SEEN:  # a run stuck for days: stop waiting for it
        after, seen = max(seen), set()
    return failed, {"after": after, "seen": sorted(seen)}


def new_check_alerts(
    instance: dg.DagsterInstance,
    checks: Mapping[dg.AssetCheckKey, str],
    states: Mapping[str, Mapping[str, Any]],
    product: str,
) -> tuple[list[Alert], dict[str, dict[str, Any]]]:
    """Alerts for executions of ``checks`` (key -> spec what_to_do) newer than ``states``. A
    check without state starts at its latest execution: turning the sensor on over an old
    instance pages today's failures, not months of history."""
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(checks))
    finished = functools.cache(
        lambda run_id: (run := instance.get_run_by_id(run_id)) is None or run.is_finished
    )
    alerts: list[Alert] = []
    new_states: dict[str, dict[str, Any]] = {}
    for key, what_to_do in checks.items():
        record = latest.get(key)
        state = dict(states.get(key.to_user_string()) or {})
        state = state or {"after": record.id - 1 if record else 0, "seen": []}
        if record is not None and record.id > state["after"]:
            failed, state = _scan(instance, key, state, finished)
            alerts += [check_alert(row, product, what_to_do) for row in failed]
        new_states[key.to_user_string()] = state
    return alerts, new_states


def _location_checks(
    repository: dg.RepositoryDefinition, asset_keys: Sequence[dg.AssetKey] | None
) -> dict[dg.AssetCheckKey, str]:
    """Check key -> its spec's ``what_to_do``, for the location's checks (or ``asset_keys``')."""
    graph = repository.asset_graph
    keys = [k for k in graph.asset_check_keys if asset_keys is None or k.asset_key in asset_keys]
    spec = graph.get_check_spec
    return {
        key: _text((spec(key).metadata or {}).get("what_to_do")) or ""
        for key in sorted(keys, key=lambda k: k.to_user_string())
    }


def build_check_failure_alert_sensor(
    product: str,
    asset_keys: Sequence[dg.AssetKey] | None = None,
    *,
    warehouse_resource_key: str = "warehouse",
    name: str | None = None,
    minimum_interval_seconds: int = 60,
) -> dg.SensorDefinition:
    """Alerts for every check execution that did not pass, blocking or not, ERROR or WARN: the
    path that catches a green run with a failed check. Cursor (JSON): per check the last
    settled execution id, plus alerts the busy warehouse has not taken yet."""

    @dg.sensor(
        name=name or f"{product}_check_failure_alerts",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={warehouse_resource_key},
        description=f"Alerts on-call when a {product} asset check fails, even in a green run.",
    )
    def _check_failure_alerts(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        if context.repository_def is None:
            return dg.SensorResult(skip_reason="No code location to read checks from.")
        cursor = json.loads(context.cursor) if context.cursor else {}
        checks = _location_checks(context.repository_def, asset_keys)
        alerts, states = new_check_alerts(
            context.instance, checks, cursor.get("checks", {}), product
        )
        retry = [Alert.from_json(row) for row in cursor.get("unrecorded", [])]
        warehouse = getattr(context.resources, warehouse_resource_key)
        unrecorded = [a.to_json() for a in deliver(context.log, warehouse, alerts, retry)]
        named = ", ".join(sorted({f"{a.asset}:{a.check_name}" for a in alerts}))
        skip = f"Alerted {len(alerts)}: {named}" if alerts else "No new failed check."
        cursor = {"checks": states, "unrecorded": unrecorded}
        return dg.SensorResult(skip_reason=skip, cursor=json.dumps(cursor, sort_keys=True))

    return _check_failure_alerts
