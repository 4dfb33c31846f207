"""Launch runs of a code location from Python (demo, drills, tests) the way the UI would."""

from datetime import date

import dagster as dg

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def materialize_days(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    first: date,
    last: date,
    *,
    selection: str | None = None,
    raise_on_error: bool = False,
    log_level: str = "WARNING",
    run_config: dict | None = None,
) -> dg.ExecuteInProcessResult:
    """One run over a partition range (a single-run backfill), unpartitioned assets included.
    ``selection`` uses the UI's syntax, e.g. ``group:demand_raw`` or ``demand/raw/pos_sales+``."""
    return dg.materialize(
        list(defs.assets or []),
        instance=instance,
        resources=defs.resources,
        selection=dg.AssetSelection.from_string(selection) if selection else None,
        tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()},
        run_config={
            **(run_config or {}),
            "loggers": {"console": {"config": {"log_level": log_level}}},
        },
        raise_on_error=raise_on_error,
    )


def check_results(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckEvaluation]:
    return [
        event.event_specific_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]


def failed_steps(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Step key -> the error's message (its cause when Dagster wrapped it)."""
    failures = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.event_specific_data.error
            failures[event.step_key] = (error.cause or error).message.strip()
    return failures
