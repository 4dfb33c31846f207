"""Harmonized churn layer: each SaaS source on one contract, bad rows quarantined with a reason.

Each table is materialized with its quarantine (the core ``HarmonizedLayer``), so re-running a
partition after a spelling is mapped moves rows back with nothing lost or doubled. An absent
optional source (billing, help desk) harmonizes to an empty table: labels and features then
know the source exists but said nothing, rather than failing.
"""

from datetime import date
from functools import partial

import dagster as dg
import duckdb
import polars as pl
from dagster_duckdb import DuckDBResource

from intel_platform.churn import checks
from intel_platform.churn.contracts import (
    SUBSCRIPTION_SCHEMA,
    SUBSCRIPTIONS,
    TICKET_SCHEMA,
    TICKETS,
    USAGE,
    USAGE_SCHEMA,
    SubscriptionEventsModel,
    TicketsModel,
    UsageEventsModel,
)
from intel_platform.churn.harmonize import (
    spellings,
    split_subscriptions,
    split_tickets,
    split_usage,
)
from intel_platform.churn.partitions import DAILY, HISTORY_BACKFILL
from intel_platform.core.checks import (
    CheckDefinition,
    CheckOutcome,
    contract_outcome,
    quarantine_rate_outcome,
    volume_outcome,
)
from intel_platform.core.contracts import Contract
from intel_platform.core.harmonize import Split, harmonized_results
from intel_platform.core.harmonized_layer import HarmonizedLayer, Splitter
from intel_platform.core.partitions import partition_days
from intel_platform.core.resources import ProjectHomeResource
from intel_platform.core.warehouse import table_exists

LAYER = HarmonizedLayer("churn")
EVENT_GRAIN = ("customer_id", "date", "event_time", "event_id")
TICKET_GRAIN = ("customer_id", "date", "opened_at", "ticket_id")


class HarmonizeConfig(dg.Config):
    """Thresholds on-call may tune per run; defaults follow ../shared/DOMAIN.md."""

    chunk_days: int = 28
    max_quarantine_rate: float = 0.01
    min_quarantine_rows: int = 10
    min_volume_share: float = 0.5


def _outcomes(
    chunk: Split, _first: date, _last: date, *, name: str, model: type, config: HarmonizeConfig
) -> dict[str, CheckOutcome]:
    kept = chunk.good.group_by(partition_date="date").len("kept")
    return {
        f"{name}_contract": contract_outcome(model, chunk.good),
        f"{name}_quarantine_rate": quarantine_rate_outcome(
            kept, chunk.quarantined,
            max_rate=config.max_quarantine_rate, min_rows=config.min_quarantine_rows,
        ),
    }  # fmt: skip


def _daily_rows(conn: duckdb.DuckDBPyConnection, first: date) -> pl.DataFrame:
    """Kept usage rows per day for the 4 weeks before ``first``: the volume baseline."""
    table = LAYER.table("usage_events")
    if not table_exists(conn, table):
        return pl.DataFrame(schema={"partition_date": pl.Date, "rows": pl.UInt32})
    return conn.execute(
        f"SELECT date AS partition_date, count(*)::UINTEGER AS rows FROM {table} "
        "WHERE date >= ?::DATE - 28 AND date < ? GROUP BY ALL",
        [first, first],
    ).pl()


def _usage_outcomes(
    chunk: Split, first: date, last: date, *, conn, config: HarmonizeConfig
) -> dict[str, CheckOutcome]:
    outcomes = _outcomes(chunk, first, last, name="usage_events", model=UsageEventsModel,
                         config=config)  # fmt: skip
    days = pl.DataFrame({"partition_date": pl.date_range(first, last, eager=True)})
    counts = days.join(
        chunk.good.group_by(partition_date="date").len("rows"), on="partition_date", how="left"
    ).fill_null(0)
    outcomes["usage_events_volume"] = volume_outcome(
        counts, _daily_rows(conn, first), min_share=config.min_volume_share
    )
    return outcomes


def _materialize(
    context: dg.AssetExecutionContext,
    conn: duckdb.DuckDBPyConnection,
    name: str,
    source: tuple[Splitter, Contract, dict, tuple[str, ...], list[CheckDefinition]],
    evaluate,
    config: HarmonizeConfig,
):
    """One source's days through the shared driver; results for the table, quarantine, checks."""
    splitter, contract, schema, grain, definitions = source
    days = partition_days(context)
    split = partial(LAYER.split_sources, conn, [(name, splitter)], table=name, empty=schema,
                    grain=grain)  # fmt: skip
    run = LAYER.harmonize(conn, name, days, split, evaluate, config.chunk_days)
    return harmonized_results(
        run, key=LAYER.key(name), quarantine_key=LAYER.key(f"{name}_quarantine"),
        checks=definitions,
        extra_metadata={**LAYER.lineage(conn, contract, [name]),
                        "partitions": f"{days[0]}..{days[-1]}"},
    )  # fmt: skip


def _specs(name: str, doc: str) -> list[dg.AssetSpec]:
    return LAYER.specs(name, [LAYER.raw_key(name)], doc, metadata={"partition_expr": "date"})


DAILY_ASSET = {"partitions_def": DAILY, "backfill_policy": HISTORY_BACKFILL}


@dg.multi_asset(
    specs=_specs("usage_events", "One row per product usage event (login, session, feature use, "
                 "or an imported log's activity), unique by event_id."),
    check_specs=[c.spec for c in checks.USAGE], **DAILY_ASSET,
)  # fmt: skip
def usage_events(
    context: dg.AssetExecutionContext,
    config: HarmonizeConfig,
    warehouse: DuckDBResource,
    project_home: ProjectHomeResource,
):
    names = spellings(project_home.home.mappings)
    with warehouse.get_connection() as conn:
        splitter = lambda raw, a, b: split_usage(raw, first=a, last=b, names=names)  # noqa: E731
        evaluate = partial(_usage_outcomes, conn=conn, config=config)
        source = (splitter, USAGE, USAGE_SCHEMA, EVENT_GRAIN, checks.USAGE)
        yield from _materialize(context, conn, "usage_events", source, evaluate, config)


@dg.multi_asset(
    specs=_specs("subscription_events", "One row per billing event (sign-up, renewal, plan "
                 "change, downgrade, cancellation, billing retry, reactivation)."),
    check_specs=[c.spec for c in checks.SUBSCRIPTIONS], **DAILY_ASSET,
)  # fmt: skip
def subscription_events(
    context: dg.AssetExecutionContext,
    config: HarmonizeConfig,
    warehouse: DuckDBResource,
    project_home: ProjectHomeResource,
):
    names = spellings(project_home.home.mappings)
    with warehouse.get_connection() as conn:
        splitter = lambda raw, a, b: split_subscriptions(raw, first=a, last=b, names=names)  # noqa: E731
        evaluate = partial(_outcomes, name="subscription_events", model=SubscriptionEventsModel,
                           config=config)  # fmt: skip
        source = (splitter, SUBSCRIPTIONS, SUBSCRIPTION_SCHEMA, EVENT_GRAIN,
                  checks.SUBSCRIPTIONS)  # fmt: skip
        yield from _materialize(context, conn, "subscription_events", source, evaluate, config)


@dg.multi_asset(
    specs=_specs("tickets", "One row per support ticket with a canonical category."),
    check_specs=[c.spec for c in checks.TICKETS], **DAILY_ASSET,
)  # fmt: skip
def tickets(
    context: dg.AssetExecutionContext,
    config: HarmonizeConfig,
    warehouse: DuckDBResource,
    project_home: ProjectHomeResource,
):
    names = spellings(project_home.home.mappings)
    with warehouse.get_connection() as conn:
        splitter = lambda raw, a, b: split_tickets(raw, first=a, last=b, names=names)  # noqa: E731
        evaluate = partial(_outcomes, name="tickets", model=TicketsModel, config=config)
        source = (splitter, TICKETS, TICKET_SCHEMA, TICKET_GRAIN, checks.TICKETS)
        yield from _materialize(context, conn, "tickets", source, evaluate, config)
