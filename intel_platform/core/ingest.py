"""Raw ingestion: landing files read as they are, plus where and when each row came from.

Every value is kept as text so that nothing is lost or reinterpreted before harmonization
(``n/a`` in a number column must reach the quarantine as ``n/a``, not as a null). The header
is checked against the contract here, so a schema change fails at the door, naming the file.
"""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from intel_platform.core.contracts import Contract, SchemaDriftError
from intel_platform.core.metadata import table_metadata
from intel_platform.core.partitions import days_between, partition_days
from intel_platform.core.warehouse import day_chunks, replace_partitions, replace_table

AUDIT_COLUMNS = ("_source_file", "_row_number", "_partition", "_ingested_at")


@dataclass(frozen=True)
class DailySource:
    """One landing source feeding one raw table: where its files are and what they must hold."""

    table: str
    contract: Contract
    landing_root: Path
    files_for_day: Callable[[date], list[Path]]
    required: bool = True


class LandingFileError(ValueError):
    """A landing file that cannot be read at all (corrupt, wrong format)."""


def read_as_text(path: Path) -> pl.DataFrame:
    """Read CSV, JSON lines or Parquet with every column as text, or raise naming the file."""
    try:
        if _is_blank(path):
            return pl.DataFrame()  # an empty export (no orders that day) is zero rows
        if path.suffix == ".csv":
            return pl.read_csv(path, infer_schema=False)
        if path.suffix in (".jsonl", ".ndjson"):
            frame = pl.read_ndjson(path, infer_schema_length=None)
        elif path.suffix == ".parquet":
            frame = pl.read_parquet(path)
        else:
            raise LandingFileError(f"{path}: unsupported file type {path.suffix!r}")
    except (pl.exceptions.PolarsError, OSError) as error:
        raise LandingFileError(f"{path}: cannot be read ({error})") from error
    return frame.with_columns(pl.all().cast(pl.String))


def _is_blank(path: Path, probe: int = 4096) -> bool:
    """Empty, or (for text formats) only white space; reads at most ``probe`` bytes."""
    size = path.stat().st_size
    if size == 0:
        return True
    if path.suffix == ".parquet" or size > probe:
        return False
    return not path.read_bytes().strip()


def ingest_files(
    files: Sequence[Path],
    contract: Contract,
    *,
    landing_root: Path,
    partition: date | None,
    ingested_at: datetime,
) -> pl.DataFrame:
    """Rows of ``files`` stacked (columns united by name), with audit columns.

    Raises ``SchemaDriftError`` for a header no alias explains, before anything is written.
    """
    frames = []
    for path in files:
        frame = read_as_text(path)
        if frame.width == 0:
            continue
        contract.check_header(path, frame.columns)
        frames.append(
            frame.with_columns(
                pl.lit(str(path.relative_to(landing_root))).alias("_source_file"),
                pl.int_range(1, pl.len() + 1, dtype=pl.Int32).alias("_row_number"),
                pl.lit(partition, dtype=pl.Date).alias("_partition"),
                pl.lit(ingested_at, dtype=pl.Datetime("us")).alias("_ingested_at"),
            )
        )
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal")


def ingest_daily(
    context: dg.AssetExecutionContext,
    conn: duckdb.DuckDBPyConnection,
    source: DailySource,
    *,
    chunk_days: int = 7,
) -> dg.MaterializeResult:
    """Ingest the run's days (one partition, or a whole backfill range) chunk by chunk.

    Each chunk of days is replaced in one transaction, so re-running a day replaces it and a
    ten-year backfill never holds more than ``chunk_days`` of files in memory.
    """
    days = partition_days(context)
    if source.required:
        empty = [d for d in days if not source.files_for_day(d)]
        if empty:
            raise dg.Failure(
                description=f"No {source.table} landing files for {_day_list(empty)} "
                f"(looked in {source.landing_root}). Land the files, then re-materialize.",
                metadata={"missing_days": len(empty)},
            )
    ingested_at = datetime.now(UTC).replace(tzinfo=None)
    rows, files, columns = 0, 0, pl.Schema()
    for first, last in day_chunks(days[0], days[-1], chunk_days):
        frames = []
        for day in days_between(first, last):
            day_files = source.files_for_day(day)
            files += len(day_files)
            frames.append(_ingest_or_fail(day_files, source, day, ingested_at))
        landed = [f for f in frames if f.width]
        frame = pl.concat(landed, how="diagonal") if landed else pl.DataFrame()
        if frame.width:
            columns = frame.schema
        rows += replace_partitions(
            conn, source.table, frame, partition_column="_partition", first=first, last=last
        )
    context.log.info(f"{source.table}: {rows} rows from {files} files, {days[0]}..{days[-1]}")
    return dg.MaterializeResult(
        data_version=_files_version(source, days[0]) if len(days) == 1 else None,
        metadata={
            **table_metadata(rows, columns),
            "files": files,
            "partitions": f"{days[0]}..{days[-1]}",
            "source_columns": ", ".join(c for c in columns if c not in AUDIT_COLUMNS),
        },
    )


def _files_version(source: DailySource, day: date) -> dg.DataVersion:
    """A content hash of the day's landing files: an identical re-drop keeps the version, so
    automation does not recompute downstream for it (cheap: one day's files)."""
    digest = hashlib.sha256()
    for path in source.files_for_day(day):
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return dg.DataVersion(digest.hexdigest()[:16])


def _ingest_or_fail(
    files: list[Path], source: DailySource, day: date | None, ingested_at: datetime
) -> pl.DataFrame:
    try:
        return ingest_files(
            files,
            source.contract,
            landing_root=source.landing_root,
            partition=day,
            ingested_at=ingested_at,
        )
    except SchemaDriftError as error:
        raise dg.Failure(
            description=str(error),
            metadata={
                "file": error.file,
                "unknown_columns": ", ".join(error.unknown) or "none",
                "missing_columns": ", ".join(error.missing) or "none",
            },
        ) from error
    except LandingFileError as error:
        raise dg.Failure(description=str(error)) from error


def ingest_reference(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    file: Path,
    contract: Contract,
    landing_root: Path,
    *,
    optional: bool = False,
) -> dg.MaterializeResult:
    """Replace a small reference table (catalog, store list) by its current landing file; an
    ``optional`` source without a file (no plan this week) is an empty table, not an error."""
    if not file.exists() and not optional:
        raise dg.Failure(description=f"{file} is missing: land it, then re-materialize {table}.")
    source = DailySource(table, contract, landing_root, lambda _day: [file], required=True)
    frame = (
        _ingest_or_fail([file], source, None, datetime.now(UTC).replace(tzinfo=None))
        if file.exists()
        else _empty(contract)
    )
    rows = replace_table(conn, table, frame)
    return dg.MaterializeResult(metadata={**table_metadata(rows, frame.schema), "file": str(file)})


def _empty(contract: Contract) -> pl.DataFrame:
    text = dict.fromkeys(contract.aliases, pl.String)
    audit = {"_source_file": pl.String, "_row_number": pl.Int32, "_partition": pl.Date,
             "_ingested_at": pl.Datetime("us")}  # fmt: skip
    return pl.DataFrame(schema={**text, **audit})


def _day_list(days: list[date]) -> str:
    shown = ", ".join(d.isoformat() for d in days[:5])
    return shown + (f" and {len(days) - 5} more days" if len(days) > 5 else "")
