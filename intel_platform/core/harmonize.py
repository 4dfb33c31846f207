"""The harmonize driver every product shares: read a raw range, split it into contract rows
and quarantine rows, write both for the same partitions, and evaluate the checks on the way.

Work goes chunk by chunk (``chunk_days``) so a history backfill keeps one chunk in memory;
check outcomes of chunks merge into one result per check for the run.
"""

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
import duckdb
import polars as pl

from intel_platform.core.checks import CheckDefinition, CheckOutcome
from intel_platform.core.metadata import table_metadata
from intel_platform.core.quarantine import reason_counts
from intel_platform.core.warehouse import day_chunks, refresh_union_view, replace_partitions


@dataclass(frozen=True)
class Split:
    """Contract rows and quarantine rows (quarantine layout) of one chunk; ``rejected`` keeps
    the rejected rows as parsed, so completeness can count a row that arrived broken as
    arrived (it is the quarantine check's business, not a missing row)."""

    good: pl.DataFrame
    quarantined: pl.DataFrame
    rejected: pl.DataFrame = field(default_factory=pl.DataFrame)


@dataclass
class HarmonizeRun:
    """Running totals of one materialization over all its chunks."""

    rows: int = 0
    quarantined: int = 0
    reasons: Counter = field(default_factory=Counter)
    outcomes: dict[str, CheckOutcome] = field(default_factory=dict)
    schema: Mapping[str, pl.DataType] = field(default_factory=dict)
    quarantine_schema: Mapping[str, pl.DataType] = field(default_factory=dict)

    def add(self, split: Split, outcomes: Mapping[str, CheckOutcome]) -> None:
        self.rows += split.good.height
        self.quarantined += split.quarantined.height
        self.reasons.update(reason_counts(split.quarantined))
        self.schema = split.good.schema
        self.quarantine_schema = split.quarantined.schema
        for name, outcome in outcomes.items():
            known = self.outcomes.get(name)
            self.outcomes[name] = known.merge(outcome) if known else outcome


@dataclass(frozen=True)
class Targets:
    table: str
    quarantine_table: str
    partition_column: str = "date"


def harmonize_days(
    conn: duckdb.DuckDBPyConnection,
    days: list[date],
    targets: Targets,
    split: Callable[[date, date], Split],
    evaluate: Callable[[Split, date, date], Mapping[str, CheckOutcome]],
    chunk_days: int,
) -> HarmonizeRun:
    """Harmonize ``days`` chunk by chunk; each chunk's two writes replace its partitions."""
    run = HarmonizeRun()
    for first, last in day_chunks(days[0], days[-1], chunk_days):
        chunk = split(first, last)
        replace_partitions(
            conn, targets.table, chunk.good,
            partition_column=targets.partition_column, first=first, last=last,
        )  # fmt: skip
        replace_partitions(
            conn, targets.quarantine_table, chunk.quarantined,
            partition_column="partition_date", first=first, last=last,
        )  # fmt: skip
        run.add(chunk, evaluate(chunk, first, last))
    refresh_union_view(conn, targets.quarantine_table.split(".")[0], "quarantine")
    return run


def harmonized_results(
    run: HarmonizeRun,
    *,
    key: dg.AssetKey,
    quarantine_key: dg.AssetKey,
    checks: list[CheckDefinition],
    extra_metadata: Mapping[str, object],
) -> list[dg.MaterializeResult | dg.AssetCheckResult]:
    """Materializations of the table and its quarantine, then one result per check."""
    reasons = dict(sorted(run.reasons.items()))
    share = run.quarantined / max(1, run.rows + run.quarantined)
    table = dg.MaterializeResult(
        asset_key=key,
        metadata={
            **table_metadata(run.rows, run.schema),
            "quarantined_rows": run.quarantined,
            "quarantined_share": round(share, 6),
            "quarantine_reasons": reasons or "none",
            **extra_metadata,
        },
    )
    quarantine = dg.MaterializeResult(
        asset_key=quarantine_key,
        metadata={
            **table_metadata(run.quarantined, run.quarantine_schema),
            "reasons": reasons or "none",
        },
    )
    results: list[dg.MaterializeResult | dg.AssetCheckResult] = [table, quarantine]
    results += [c.result(run.outcomes.get(c.name, CheckOutcome())) for c in checks]
    return results
