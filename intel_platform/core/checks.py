"""Asset-check builders shared by every product, written for the on-call engineer at 3 a.m.

A check is evaluated where the data already is (inside the asset, chunk by chunk during a
backfill) into a ``CheckOutcome``; outcomes of chunks merge, and the final one becomes an
``AssetCheckResult`` whose metadata says what failed (count per rule), where (partitions and
source files), shows up to 20 failing rows, and gives one line of what to do.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg
import pandera.polars as pa
import polars as pl

from intel_platform.core.metadata import SAMPLE_ROWS, markdown_table

LOCATION_COLUMNS = ("source_file", "partition_date", "date")


@dataclass(frozen=True)
class CheckOutcome:
    """What one evaluation found; empty ``failures`` means passed."""

    failures: Mapping[str, int] = field(default_factory=dict)
    sample: pl.DataFrame = field(default_factory=pl.DataFrame)
    partitions: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    observed: Mapping[str, float] = field(default_factory=dict)
    rows_checked: int = 0

    @property
    def passed(self) -> bool:
        return not self.failures

    def merge(self, other: "CheckOutcome") -> "CheckOutcome":
        """Combine chunks: counts add up, observed values keep the worst (largest) one."""
        failures = dict(self.failures)
        for rule, count in other.failures.items():
            failures[rule] = failures.get(rule, 0) + count
        observed = dict(self.observed)
        for name, value in other.observed.items():
            observed[name] = max(observed.get(name, value), value)
        frames = [f for f in (self.sample, other.sample) if f.height]
        sample = self.sample
        if frames:
            sample = pl.concat(frames, how="diagonal_relaxed").head(SAMPLE_ROWS)
        return CheckOutcome(
            failures=failures,
            sample=sample,
            partitions=tuple(dict.fromkeys((*self.partitions, *other.partitions))),
            files=tuple(dict.fromkeys((*self.files, *other.files))),
            observed=observed,
            rows_checked=self.rows_checked + other.rows_checked,
        )


@dataclass(frozen=True)
class CheckDefinition:
    """One named check of one asset, with the runbook line on-call needs when it fails."""

    asset_key: dg.AssetKey
    name: str
    description: str
    what_to_do: str
    blocking: bool = True
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR

    @property
    def spec(self) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(
            name=self.name,
            asset=self.asset_key,
            description=f"{self.description} If it fails: {self.what_to_do}",
            blocking=self.blocking,
            metadata={"what_to_do": self.what_to_do},
        )

    def result(self, outcome: CheckOutcome) -> dg.AssetCheckResult:
        metadata: dict[str, object] = {
            "rows_checked": outcome.rows_checked,
            "failed_rows": sum(outcome.failures.values()),
            "what_to_do": self.what_to_do,
            **{k: float(v) for k, v in outcome.observed.items()},
        }
        if not outcome.passed:
            counts = pl.DataFrame(
                {"rule": list(outcome.failures), "count": list(outcome.failures.values())}
            )
            metadata |= {
                "what_failed": dg.MetadataValue.md(markdown_table(counts)),
                "failed_partitions": ", ".join(outcome.partitions[:SAMPLE_ROWS]) or "n/a",
                "failed_files": ", ".join(outcome.files[:SAMPLE_ROWS]) or "n/a",
                "sample_rows": dg.MetadataValue.md(markdown_table(outcome.sample)),
            }
        return dg.AssetCheckResult(
            asset_key=self.asset_key,
            check_name=self.name,
            passed=outcome.passed,
            severity=self.severity,
            metadata=metadata,
            description=None if outcome.passed else _summary(outcome),
        )


def _summary(outcome: CheckOutcome) -> str:
    rules = ", ".join(f"{rule}: {count}" for rule, count in outcome.failures.items())
    where = f" in {', '.join(outcome.partitions[:5])}" if outcome.partitions else ""
    return f"Failed {rules}{where}."


def _locations(rows: pl.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    partitions: tuple[str, ...] = ()
    for column in ("partition_date", "date"):
        if column in rows.columns:
            partitions = tuple(str(v) for v in rows[column].drop_nulls().unique().sort())
            break
    files = ()
    if "source_file" in rows.columns:
        files = tuple(rows["source_file"].drop_nulls().unique().sort().to_list())
    return partitions, files


def contract_outcome(schema: type[pa.DataFrameModel], frame: pl.DataFrame) -> CheckOutcome:
    """Validate ``frame`` against a Pandera model; failures counted per column and check.
    Enum and Categorical columns are checked as the text the warehouse stores (a model says
    ``isin=[...]``), so one model serves frames fresh from a rule and read back from DuckDB."""
    frame = frame.with_columns(pl.col(pl.Enum, pl.Categorical).cast(pl.String))
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        counts = cases.group_by("column", "check").len().sort("column", "check")
        failures = {f"{c or 'table'}: {k}": n for c, k, n in counts.iter_rows()}
        indexes = cases["index"].drop_nulls().unique().sort()
        bad = frame.with_row_index("_index").filter(pl.col("_index").is_in(indexes.implode()))
        sample = bad.head(SAMPLE_ROWS) if bad.height else cases.head(SAMPLE_ROWS)
        partitions, files = _locations(bad)
        return CheckOutcome(failures, sample, partitions, files, rows_checked=frame.height)
    return CheckOutcome(rows_checked=frame.height)


def null_rate_outcome(
    frame: pl.DataFrame, columns: Sequence[str], *, partition_column: str, max_rate: float
) -> CheckOutcome:
    """Per partition, the share of nulls in each critical column must stay at or under max_rate."""
    rates = frame.group_by(partition_column).agg(
        *[pl.col(c).null_count().alias(c) for c in columns], pl.len().alias("_rows")
    )
    failures: dict[str, int] = {}
    failing_partitions: set = set()
    worst = 0.0
    for column in columns:
        rate = pl.col(column) / pl.col("_rows")
        worst = max(worst, float(rates.select(rate.max()).item() or 0.0))
        over = rates.filter(rate > max_rate)
        if over.height:
            failures[f"{column}_null_rate>{max_rate:.0%}"] = int(over[column].sum())
            failing_partitions |= set(over[partition_column].to_list())
    sample = frame.filter(
        pl.col(partition_column).is_in(list(failing_partitions))
        & pl.any_horizontal([pl.col(c).is_null() for c in columns])
    ).head(SAMPLE_ROWS)
    partitions, files = _locations(sample)
    return CheckOutcome(
        failures,
        sample,
        tuple(str(p) for p in sorted(failing_partitions)),
        files,
        {"worst_partition_null_rate": worst, "max_null_rate": max_rate},
        frame.height,
    )


def quarantine_rate_outcome(
    kept_per_partition: pl.DataFrame,
    quarantined: pl.DataFrame,
    *,
    max_rate: float,
    min_rows: int,
) -> CheckOutcome:
    """A partition fails when it quarantines more than ``max_rate`` of its rows and at least
    ``min_rows`` rows (so one bad row in a tiny partition does not page anybody).

    ``kept_per_partition`` has ``partition_date`` and ``kept`` (rows that passed).
    """
    bad = quarantined.group_by("partition_date").len("quarantined")
    rates = (
        kept_per_partition.join(
            bad, on="partition_date", how="full", coalesce=True, nulls_equal=True
        )
        .fill_null(0)
        .with_columns(rate=pl.col("quarantined") / (pl.col("quarantined") + pl.col("kept")))
    )
    over = rates.filter((pl.col("rate") > max_rate) & (pl.col("quarantined") >= min_rows))
    failing = quarantined.filter(
        pl.col("partition_date").is_in(over["partition_date"].implode(), nulls_equal=True)
    )
    counts = failing.group_by("reason").len().sort("reason")
    failures = {f"quarantined: {r}": n for r, n in counts.iter_rows()}
    partitions, files = _locations(failing)
    return CheckOutcome(
        failures,
        failing.head(SAMPLE_ROWS),
        partitions,
        files,
        {
            "worst_partition_quarantine_rate": float(rates["rate"].max() or 0.0),
            "max_quarantine_rate": max_rate,
        },
        int(rates["kept"].sum() + rates["quarantined"].sum()),
    )


def completeness_outcome(
    present: pl.DataFrame,
    expected: pl.DataFrame,
    *,
    keys: Sequence[str],
    partition_column: str,
    max_missing_share: float,
    min_missing: int = 1,
) -> CheckOutcome:
    """Expected keys (e.g. store-item-days) must be present; a partition missing more than
    ``max_missing_share`` of them, and at least ``min_missing``, fails (the weekend drop, the
    late store), while one stray broken row in a small partition does not page anybody."""
    missing = expected.join(present.select(keys).unique(), on=list(keys), how="anti")
    per_partition = (
        expected.group_by(partition_column)
        .len("expected")
        .join(missing.group_by(partition_column).len("missing"), on=partition_column, how="left")
        .fill_null(0)
        .with_columns(share=pl.col("missing") / pl.col("expected"))
    )
    over = per_partition.filter(
        (pl.col("share") > max_missing_share) & (pl.col("missing") >= min_missing)
    )
    failing = missing.filter(pl.col(partition_column).is_in(over[partition_column].implode()))
    failures = {f"missing_keys>{max_missing_share:.1%}": failing.height} if over.height else {}
    return CheckOutcome(
        failures,
        failing.sort(list(keys)).head(SAMPLE_ROWS),
        tuple(str(p) for p in over[partition_column].sort().to_list()),
        (),
        {
            "worst_partition_missing_share": float(per_partition["share"].max() or 0.0),
            "max_missing_share": max_missing_share,
        },
        expected.height,
    )


def volume_outcome(
    counts: pl.DataFrame, history: pl.DataFrame, *, min_share: float, weeks: int = 4
) -> CheckOutcome:
    """A partition whose row count falls below ``min_share`` of the median of the same
    weekday over the ``weeks`` before it fails: an event feed has no expected keys, but a day
    that delivered a third of its usual volume is the weekend drop all the same (comparing a
    Sunday with Sundays, as usage follows the week).

    ``counts`` (the run's partitions) and ``history`` (earlier ones) have ``partition_date``
    and ``rows``; a partition with fewer than 2 earlier same weekdays has no baseline."""
    every = pl.concat([history, counts], how="vertical_relaxed").unique("partition_date")
    baseline = every.sort("partition_date").with_columns(
        baseline=pl.col("rows")
        .shift(1)
        .rolling_median(weeks, min_samples=2)
        .over(pl.col("partition_date").dt.weekday())
    )
    judged = counts.select("partition_date").join(baseline, on="partition_date", how="left")
    judged = judged.with_columns(share=pl.col("rows") / pl.col("baseline"))
    low = judged.filter(pl.col("share") < min_share).sort("partition_date")
    return CheckOutcome(
        {f"volume<{min_share:.0%}_of_weekday_median": low.height} if low.height else {},
        low.head(SAMPLE_ROWS),
        tuple(str(p) for p in low["partition_date"].to_list()),
        (),
        {"lowest_share_of_median": float(judged["share"].min() or 1.0), "min_share": min_share},
        int(counts["rows"].sum()),
    )
