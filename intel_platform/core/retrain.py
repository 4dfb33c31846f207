"""Drift or decay -> one retraining run, whatever the product (DOMAIN.md, "the slow drift").

A product's monitoring assets end every materialization with the same verdict metadata
(``verdict``): whether they ask for a retraining, why, and on what evidence (the champion
version and the newest data day judged). ``build_retrain_sensor`` turns the newest verdicts into
at most one run over the product's training, scoring and decision assets:

* only the latest materialization of each monitoring asset counts (an older verdict was
  superseded); those newer than the cursor (the last event record id read) are judged, and the
  cursor moves past all of them, so one verdict never triggers two runs;
* a run carries ``intel/<reason>_state = v<champion_version>/<data_as_of>``: if the gate kept
  the champion, re-evaluating the same evidence asks again but finds that tag on a run and
  waits for new data instead of retraining in a loop;
* the reason (``drift``, ``decay``, ``drift+decay``) goes on the run's tags and into every
  training op's ``retrain_reason`` config, from where it reaches MLflow.
"""

from collections.abc import Mapping, Sequence
from datetime import date

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from intel_platform.core.metadata import table_metadata
from intel_platform.core.registry import ChampionInfo
from intel_platform.core.warehouse import replace_table, table_name

__all__ = [
    "REASON_TAG",
    "TRIGGER_TAG",
    "VERDICT_KEYS",
    "already_handled",
    "build_retrain_sensor",
    "latest_materialization",
    "metadata_value",
    "retrain_request",
    "state_tag",
    "verdict",
]

REASON_TAG, TRIGGER_TAG = "retrain_reason", "intel/trigger"
VERDICT_KEYS = (
    "retrain_requested", "retrain_reason", "retrain_detail", "champion_version", "data_as_of",
)  # fmt: skip


def verdict(
    requested: bool,
    reason: str,
    detail: str,
    champion_version: str | None,
    data_as_of: date | str | None = None,
) -> dict[str, object]:
    """What the retrain sensor reads from every monitoring materialization, whatever the
    outcome: a "nothing to compare" evaluation says so with ``retrain_requested`` False.
    ``data_as_of`` is left out when None (the caller may report it with its own numbers)."""
    out: dict[str, object] = {
        "retrain_requested": requested,
        "retrain_reason": reason if requested else "",
        "retrain_detail": detail,
        "champion_version": champion_version or "",
    }
    if data_as_of is not None:
        out["data_as_of"] = str(data_as_of)
    return out


def nothing_to_compare(
    warehouse: DuckDBResource,
    key: dg.AssetKey,
    schema: Mapping[str, pl.DataType],
    why: str,
    champion: ChampionInfo | None,
) -> dg.MaterializeResult:
    """The monitoring table ``key`` emptied and the metadata saying why: a missing champion,
    reference or matured actual is not an error and not a reason to retrain (the first training
    is the gate's business)."""
    with warehouse.get_connection() as conn:
        replace_table(conn, table_name(key), pl.DataFrame(schema=schema))
    version = champion.version if champion else ""
    metadata = {"status": why, **table_metadata(0, schema), **verdict(False, "", why, version)}
    return dg.MaterializeResult(metadata=metadata)


def latest_materialization(
    instance: dg.DagsterInstance, key: dg.AssetKey
) -> dg.EventLogRecord | None:
    """Only the newest evaluation counts: an older verdict was superseded by it."""
    records = instance.fetch_materializations(key, limit=1).records
    return records[0] if records else None


def metadata_value(record: dg.EventLogRecord, name: str, default: object = None) -> object:
    """A metadata value of the event, ``default`` when an older code version did not write it."""
    value = record.asset_materialization.metadata.get(name)
    return default if value is None else value.value


def state_tag(record: dg.EventLogRecord) -> tuple[str, str]:
    """``intel/<reason>_state`` = what was judged (champion version / data day): a run with
    this tag already retrained on exactly this evidence."""
    reason = str(metadata_value(record, "retrain_reason"))
    version = metadata_value(record, "champion_version", "")
    return f"intel/{reason}_state", f"v{version}/{metadata_value(record, 'data_as_of', '')}"


def already_handled(instance: dg.DagsterInstance, record: dg.EventLogRecord) -> bool:
    """A run already retrained on this evidence (see ``state_tag``)."""
    key, value = state_tag(record)
    return bool(instance.get_run_records(dg.RunsFilter(tags={key: value}), limit=1))


def retrain_request(
    product: str, flagged: Sequence[dg.EventLogRecord], retrain_ops: Sequence[str]
) -> dg.RunRequest:
    """One run for every reason at hand (``drift+decay`` when both), keyed by the newest
    event, the reason on the run and on the training ops (it lands in MLflow)."""
    reason = "+".join(dict.fromkeys(str(metadata_value(r, "retrain_reason")) for r in flagged))
    newest = max(r.storage_id for r in flagged)
    return dg.RunRequest(
        run_key=f"{product}-retrain-{newest}",
        run_config={"ops": {op: {"config": {"retrain_reason": reason}} for op in retrain_ops}},
        tags={REASON_TAG: reason, TRIGGER_TAG: "monitoring", **dict(map(state_tag, flagged))},
    )


def _evaluate(
    context: dg.SensorEvaluationContext,
    product: str,
    monitoring_keys: Sequence[dg.AssetKey],
    retrain_ops: Sequence[str],
) -> dg.SensorResult:
    """The sensor body (module docstring); the cursor is the last event record id read."""
    handled = int(context.cursor or 0)
    latest = [latest_materialization(context.instance, key) for key in monitoring_keys]
    fresh = [r for r in latest if r is not None and r.storage_id > handled]
    if not fresh:
        return dg.SensorResult(skip_reason="no new monitoring evaluation", cursor=str(handled))
    cursor = str(max(r.storage_id for r in fresh))
    flagged = [r for r in fresh if metadata_value(r, "retrain_requested", False)]
    waiting = [r for r in flagged if not already_handled(context.instance, r)]
    if not waiting:
        why = "already retrained on this evidence" if flagged else "no retraining requested"
        return dg.SensorResult(skip_reason=why, cursor=cursor)
    context.log.info(f"retraining: {[metadata_value(r, 'retrain_detail') for r in waiting]}")
    return dg.SensorResult(
        run_requests=[retrain_request(product, waiting, retrain_ops)], cursor=cursor
    )


def build_retrain_sensor(
    product: str,
    monitoring_keys: Sequence[dg.AssetKey],
    target_selection: dg.AssetSelection,
    retrain_ops: Sequence[str],
    *,
    description: str | None = None,
    minimum_interval_seconds: int = 60,
    owners: Sequence[str] | None = None,
) -> dg.SensorDefinition:
    """``<product>_retrain_sensor``: the newest verdicts of ``monitoring_keys`` -> at most one
    run of ``target_selection`` with ``retrain_reason`` set on each op of ``retrain_ops``."""
    keys, ops = list(monitoring_keys), tuple(retrain_ops)

    @dg.sensor(
        name=f"{product}_retrain_sensor",
        target=target_selection,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
        owners=list(owners) if owners else None,
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return _evaluate(context, product, keys, ops)

    return _sensor
