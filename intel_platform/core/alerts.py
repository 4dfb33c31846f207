"""On-call's alert record and its sinks: every alert path (failed run, failed check, stale table)
builds the same ``Alert`` and hands it to ``deliver``, which logs it, appends it to
``platform_monitoring.alerts`` and, when ``INTEL_ALERT_WEBHOOK_URL`` is set, posts it to a
Slack-compatible webhook. Kept apart from the sensors so each path shares one format and one
delivery, and this module needs no Dagster.
"""

import json
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

import duckdb

ALERTS_TABLE = "platform_monitoring.alerts"
DAGSTER_URL_ENV = "INTEL_DAGSTER_URL"
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
WEBHOOK_ENV = "INTEL_ALERT_WEBHOOK_URL"
WEBHOOK_TIMEOUT_SECONDS = 5.0
_MAX_UNRECORDED = 500  # alerts carried in the cursor while the warehouse is busy
_SLACK_BLOCKS = 20
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
