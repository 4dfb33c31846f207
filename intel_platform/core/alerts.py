"""On-call alerts: a failed run and a failed asset check both become one ``Alert`` row.

A non-blocking check that fails does not fail its run, so a run-failure sensor never sees it
(dagster-io/dagster#29896, #22964): the run is green while the data is wrong, on-call's worst
case. Hence two paths, built per product (sensors cannot cross code locations):
``build_run_failure_alert_sensor`` reacts to failed runs, ``build_check_failure_alert_sensor``
reads check evaluations from the instance itself. Both send each alert to the Dagster log, the
``platform_monitoring.alerts`` table and, when ``INTEL_ALERT_WEBHOOK_URL`` is set, a
Slack-compatible webhook.
"""

import functools
import json
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

import dagster as dg
import duckdb
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from intel_platform.core.runs import RANGE_END_TAG, RANGE_START_TAG

ALERTS_TABLE = "platform_monitoring.alerts"
DAGSTER_URL_ENV = "INTEL_DAGSTER_URL"
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
WEBHOOK_ENV = "INTEL_ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_SECONDS = 5.0
RUN_WHAT_TO_DO = (
    "Open the run, read the failed step's error, fix the cause, then re-execute the run from "
    "failure (or re-materialize the failed partitions)."
)
_MAX_ROWS = 2000  # check executions read per check per tick
_MAX_SEEN = 1000  # settled ids kept above an evaluation whose run is still going
_MAX_UNRECORDED = 500  # alerts carried in the cursor while the warehouse is busy
_SLACK_BLOCKS = 20
_PENDING = AssetCheckExecutionRecordStatus.PLANNED
_FAILED = AssetCheckExecutionRecordStatus.FAILED
_LOG = logging.getLogger(__name__)
# Columns as in ``Alert``; ``time`` is UTC (naive) of the run's end or the check's evaluation.
_SCHEMA = (
    "time TIMESTAMP NOT NULL, product VARCHAR NOT NULL, kind VARCHAR NOT NULL, "
    'asset VARCHAR NOT NULL, check_name VARCHAR, "partition" VARCHAR, severity VARCHAR NOT NULL, '
    "reason VARCHAR NOT NULL, what_to_do VARCHAR NOT NULL, run_id VARCHAR NOT NULL, "
    "link VARCHAR NOT NULL"
)
_SAME = (
    "kind = ? AND run_id = ? AND asset = ? AND check_name IS NOT DISTINCT FROM ? "
    'AND "partition" IS NOT DISTINCT FROM ?'
)


@dataclass(frozen=True)
class Alert:
    """What on-call reads at 3 a.m.: which asset, check and partition, why, what to do."""

    time: datetime
    product: str
    kind: Literal["run_failure", "check_failure", "freshness"]
    asset: str
    severity: str
    reason: str
    run_id: str
    link: str
    check_name: str | None = None
    partition: str | None = None
    what_to_do: str = ""

    @property
    def headline(self) -> str:
        """One line for the log and the webhook's ``text``, the run link last."""
        subject = f"{self.asset} check {self.check_name}" if self.check_name else self.asset
        where = f" [{self.partition}]" if self.partition else ""
        todo = f" What to do: {self.what_to_do}" if self.what_to_do else ""
        head = f"[{self.product}] {self.kind} {self.severity}: {subject}{where}"
        stop = "" if self.reason.endswith((".", "!", "?")) else "."
        return f"{head}: {self.reason}{stop}{todo} Run: {self.link}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "time": self.time.isoformat()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Alert":
        return cls(**{**data, "time": datetime.fromisoformat(data["time"])})


def run_link(run_id: str) -> str:
    """The run's page in the UI; ``INTEL_DAGSTER_URL`` is read when the alert is made."""
    base = os.environ.get(DAGSTER_URL_ENV, DEFAULT_DAGSTER_URL).rstrip("/")
    return f"{base}/runs/{run_id}"


_EXCEPTION_PATH = re.compile(r"^(?:[A-Za-z_]\w*\.)+[A-Z]\w*$")  # not a file path like a/b.csv


def one_line(text: str | None, limit: int = 400) -> str:
    """First non-empty line of a message, plus the next when it ends with ':' (Dagster's
    'N blocking asset checks failed ...:'), without the exception's module path."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    line = f"{lines[0]} {lines[1]}" if lines[0].endswith(":") and len(lines) > 1 else lines[0]
    head, sep, rest = line.partition(": ")
    if sep and _EXCEPTION_PATH.match(head):  # "pkg.module.Error: ..." -> "Error: ..."
        line = f"{head.rsplit('.', 1)[-1]}{sep}{rest}"
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- sinks ------------------------------------------------------------------------------------


def record_alerts(conn: duckdb.DuckDBPyConnection, alerts: Sequence[Alert]) -> int:
    """Append to ``platform_monitoring.alerts``, creating it; returns rows added. Idempotent per
    (kind, run_id, asset, check_name, partition): a re-evaluated tick must not double rows."""
    names = [field.name for field in fields(Alert)]
    columns = ", ".join(f'"{name}"' for name in names)
    insert = (
        f"INSERT INTO {ALERTS_TABLE} ({columns}) SELECT {', '.join('?' * len(names))} "
        f"WHERE NOT EXISTS (SELECT 1 FROM {ALERTS_TABLE} WHERE {_SAME})"
    )
    added = 0
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ALERTS_TABLE.split('.', maxsplit=1)[0]}")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {ALERTS_TABLE} ({_SCHEMA})")
        for alert in alerts:
            row = {**asdict(alert), "time": alert.time.astimezone(UTC).replace(tzinfo=None)}
            same = [alert.kind, alert.run_id, alert.asset, alert.check_name, alert.partition]
            result = conn.execute(insert, [row[name] for name in names] + same).fetchone()
            added += int(result[0]) if result else 0
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return added


def slack_payload(alerts: Sequence[Alert]) -> dict[str, Any]:
    """Slack incoming-webhook JSON: ``text`` (notifications, plain clients) and ``blocks``."""
    shown, more = alerts[:_SLACK_BLOCKS], len(alerts) - _SLACK_BLOCKS
    lines = [alert.headline for alert in shown]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _block_text(alert)[:3000]}}
        for alert in shown
    ]
    if more > 0:
        lines.append(f"…and {more} more alerts in {ALERTS_TABLE}")
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": lines[-1]}]})
    return {"text": "\n".join(lines), "blocks": blocks}


def _block_text(alert: Alert) -> str:
    check = f" · check `{alert.check_name}`" if alert.check_name else ""
    where = f" · partition {alert.partition}" if alert.partition else ""
    return (
        f"*{alert.product} {alert.kind} {alert.severity}* `{alert.asset}`{check}{where}\n"
        f"*Why* {alert.reason}\n*What to do* {alert.what_to_do or '-'}\n<{alert.link}|Open the run>"
    )


def post_webhook(alerts: Sequence[Alert], url: str, log: logging.Logger | None = None) -> bool:
    """POST the alerts once, a few seconds at most. Errors are logged, never raised: an
    unreachable Slack must not break the sensor (the alerts are in the log and the table)."""
    log = log or _LOG
    if not alerts:
        return False
    if not url.startswith(("http://", "https://")):
        log.error(f"{WEBHOOK_ENV} is not an http(s) URL; {len(alerts)} alerts not posted")
        return False
    request = urllib.request.Request(
        url,
        data=json.dumps(slack_payload(alerts)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read()
    except (urllib.error.URLError, OSError, ValueError) as error:
        log.error(f"Alert webhook failed ({error}); {len(alerts)} alerts only logged/recorded")
        return False
    return True


def deliver(
    log: logging.Logger, warehouse: Any, alerts: Sequence[Alert], retry: Sequence[Alert] = ()
) -> list[Alert]:
    """Log (ERROR as error, WARN as warning), record and post ``alerts``; ``retry`` are earlier
    alerts only to be recorded. Returns those the warehouse did not take (a run holds the
    DuckDB file): a busy warehouse delays the table row, never the page."""
    for alert in alerts:
        (log.error if alert.severity == "ERROR" else log.warning)(alert.headline)
    pending = [*retry, *alerts]
    if pending:
        try:
            with _connect(warehouse) as conn:
                record_alerts(conn, pending)
            pending = []
        except duckdb.Error as error:
            log.error(f"{len(pending)} alerts not yet recorded in {ALERTS_TABLE}: {error}")
    if (url := os.environ.get(WEBHOOK_ENV)) and alerts:
        post_webhook(alerts, url, log)
    return pending[-_MAX_UNRECORDED:]


def _connect(warehouse: Any) -> Any:
    """One attempt on the resource's database: ``DuckDBResource.get_connection`` retries a
    locked file for ~100 s, longer than a sensor tick may take."""
    if getattr(warehouse, "database", None) is None:
        return warehouse.get_connection()
    return duckdb.connect(warehouse.database, config=dict(warehouse.connection_config or {}))


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
