"""Harmonized churn layer: each SaaS source on one contract, bad rows quarantined with a reason.

Each table is materialized with its quarantine (the core ``HarmonizedLayer``), so re-running a
partition after a spelling is mapped moves rows back with nothing lost or doubled. An absent
optional source (billing, help desk) harmonizes to an empty table: labels and features then
know the source exists but said nothing, rather than failing.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial

import dagster as dg
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
from intel_platform.core.harmonized_layer import HarmonizedLayer
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


@dataclass(frozen=True)
class Source:
    """One raw churn source and its harmonized contract: what the shared builder needs."""

    name: str
    doc: str
    rules: Callable[..., tuple[pl.DataFrame, pl.DataFrame]]  # split_*(raw, first, last, names)
    contract: Contract
    schema: dict
    grain: tuple[str, ...]
    model: type
    checks: list[CheckDefinition]


def _outcomes(
    chunk: Split, first: date, last: date, *, source: Source, conn, config: HarmonizeConfig
) -> dict[str, CheckOutcome]:
    kept = chunk.good.group_by(partition_date="date").len("kept")
    outcomes = {
        f"{source.name}_contract": contract_outcome(source.model, chunk.good),
        f"{source.name}_quarantine_rate": quarantine_rate_outcome(
            kept, chunk.quarantined,
            max_rate=config.max_quarantine_rate, min_rows=config.min_quarantine_rows,
        ),
    }  # fmt: skip
    if any(c.name == f"{source.name}_volume" for c in source.checks):
        outcomes[f"{source.name}_volume"] = _volume(chunk, first, last, conn, source, config)
    return outcomes


def _volume(chunk: Split, first: date, last: date, conn, source: Source, config) -> CheckOutcome:
    """Kept rows per day of the chunk against the 4 weeks before it in the table."""
    days = pl.DataFrame({"partition_date": pl.date_range(first, last, eager=True)})
    counts = days.join(
        chunk.good.group_by(partition_date="date").len("rows"), on="partition_date", how="left"
    ).fill_null(0)
    history = pl.DataFrame(schema={"partition_date": pl.Date, "rows": pl.UInt32})
    if table_exists(conn, table := LAYER.table(source.name)):
        history = conn.execute(
            f"SELECT date AS partition_date, count(*)::UINTEGER AS rows FROM {table} "
            "WHERE date >= ?::DATE - 28 AND date < ? GROUP BY ALL",
            [first, first],
        ).pl()
    return volume_outcome(counts, history, min_share=config.min_volume_share)


def _harmonized_asset(source: Source) -> dg.AssetsDefinition:
    """The daily multi-asset of one source: table, quarantine and checks in one step."""

    @dg.multi_asset(
        name=source.name,
        specs=LAYER.specs(source.name, [LAYER.raw_key(source.name)], source.doc,
                          metadata={"partition_expr": "date"}),
        check_specs=[c.spec for c in source.checks],
        partitions_def=DAILY,
        backfill_policy=HISTORY_BACKFILL,
    )  # fmt: skip
    def _asset(
        context: dg.AssetExecutionContext,
        config: HarmonizeConfig,
        warehouse: DuckDBResource,
        project_home: ProjectHomeResource,
    ):
        names = spellings(project_home.home.mappings)
        days = partition_days(context)
        with warehouse.get_connection() as conn:
            rules = partial(source.rules, names=names)
            splitter = lambda raw, a, b: rules(raw, first=a, last=b)  # noqa: E731
            split = partial(LAYER.split_sources, conn, [(source.name, splitter)],
                            table=source.name, empty=source.schema, grain=source.grain)  # fmt: skip
            evaluate = partial(_outcomes, source=source, conn=conn, config=config)
            run = LAYER.harmonize(conn, source.name, days, split, evaluate, config.chunk_days)
            lineage = LAYER.lineage(conn, source.contract, [source.name])
        yield from harmonized_results(
            run, key=LAYER.key(source.name), quarantine_key=LAYER.key(f"{source.name}_quarantine"),
            checks=source.checks,
            extra_metadata={**lineage, "partitions": f"{days[0]}..{days[-1]}"},
        )  # fmt: skip

    return _asset


usage_events = _harmonized_asset(Source(
    "usage_events",
    "One row per product usage event (login, session, feature use, or an imported log's "
    "activity), unique by event_id.",
    split_usage, USAGE, USAGE_SCHEMA, EVENT_GRAIN, UsageEventsModel, checks.USAGE,
))  # fmt: skip
subscription_events = _harmonized_asset(Source(
    "subscription_events",
    "One row per billing event (sign-up, renewal, plan change, downgrade, cancellation, "
    "billing retry, reactivation).",
    split_subscriptions, SUBSCRIPTIONS, SUBSCRIPTION_SCHEMA, EVENT_GRAIN,
    SubscriptionEventsModel, checks.SUBSCRIPTIONS,
))  # fmt: skip
tickets = _harmonized_asset(Source(
    "tickets", "One row per support ticket with a canonical category.",
    split_tickets, TICKETS, TICKET_SCHEMA, TICKET_GRAIN, TicketsModel, checks.TICKETS,
))  # fmt: skip
