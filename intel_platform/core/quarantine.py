"""Quarantine: rows that break a contract leave the pipeline with their reason, never silently.

Each harmonized table has a quarantine table partitioned like it. Re-running a partition
replaces both, so once a mapping is fixed the rows move back into the harmonized table and
out of the quarantine: nothing is lost and nothing is doubled.
"""

from collections.abc import Sequence

import polars as pl

QUARANTINE_SCHEMA = {
    "table_name": pl.String,
    "partition_date": pl.Date,
    "source_file": pl.String,
    "row_number": pl.Int32,
    "reason": pl.String,
    "record": pl.String,
}


def first_reason(rules: Sequence[tuple[str, pl.Expr]]) -> pl.Expr:
    """The name of the first rule whose condition holds, else null: one reason per row."""
    reason = pl.lit(None, dtype=pl.String)
    for name, condition in reversed(rules):
        reason = pl.when(condition).then(pl.lit(name)).otherwise(reason)
    return reason


RAW_INDEX = "_raw_index"


def indexed(raw: pl.DataFrame) -> pl.DataFrame:
    """Raw rows in arrival order (file, row number), numbered so a rejected row can be traced
    back to its untouched values after harmonization renamed and typed them."""
    return raw.sort("_source_file", "_row_number").with_row_index(RAW_INDEX)


def quarantine_rows(
    rejected: pl.DataFrame,
    raw: pl.DataFrame,
    *,
    table_name: str,
    record_columns: Sequence[str],
    partition_column: str = "_partition",
) -> pl.DataFrame:
    """Rejected rows in the quarantine layout: ``rejected`` holds ``_raw_index`` and ``reason``,
    ``raw`` (from ``indexed``) the source values, kept as text in a JSON record."""
    if rejected.height == 0:
        return pl.DataFrame(schema=QUARANTINE_SCHEMA)
    rows = raw.join(rejected.select(RAW_INDEX, "reason"), on=RAW_INDEX).sort(RAW_INDEX)
    present = [c for c in record_columns if c in rows.columns]
    return rows.select(
        pl.lit(table_name).alias("table_name"),
        pl.col(partition_column).cast(pl.Date).alias("partition_date"),
        pl.col("_source_file").cast(pl.String).alias("source_file"),
        pl.col("_row_number").cast(pl.Int32).alias("row_number"),
        pl.col("reason").cast(pl.String),
        pl.struct(present).struct.json_encode().alias("record"),
    )


def reason_counts(quarantined: pl.DataFrame) -> dict[str, int]:
    if quarantined.height == 0:
        return {}
    counts = quarantined.group_by("reason").len().sort("reason")
    return dict(zip(counts["reason"].to_list(), counts["len"].to_list(), strict=True))
