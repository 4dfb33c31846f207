"""Wide tables kept as Parquet parts under the project home, queryable as DuckDB views.

Feature tables are tens of columns over tens of millions of rows: written part by part (one
store at a time) they never exist whole in memory, and readers scan them lazily with
predicate and projection pushdown (Polars ``scan_parquet`` or the DuckDB view). A rebuild is
written beside the live table and swapped in by a rename, so readers never see half a table.
"""

import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pyarrow.parquet as pq

from intel_platform.core.home import ProjectHome


def table_dir(home: ProjectHome, key: dg.AssetKey) -> Path:
    """``demand/features/store_item_day`` -> ``<home>/tables/demand_features/store_item_day``."""
    return home.root / "tables" / "_".join(key.path[:-1]) / key.path[-1]


class StagedTable:
    """A new version of a parts table, written beside the live one until it is swapped in.

    Parts of the live table that did not change are kept by hard link (no copy); new parts are
    written: a LazyFrame is streamed to its file, a DataFrame (a part the caller computed and
    checked in memory) is written by a background thread while the caller computes the next
    part. Polars releases the GIL while encoding, so on two cores the write costs little wall
    time; at most one write is pending, so at most two parts are in memory. Rows are counted
    from the frames or the footers, never by re-reading the parts."""

    def __init__(self, live: Path, staging: Path, writer: ThreadPoolExecutor):
        self._live, self._staging, self._writer = live, staging, writer
        self._pending: Future | None = None

    def keep(self, names: Iterable[str]) -> None:
        for name in names:
            os.link(self._live / name, self._staging / name)

    def write(self, name: str, frame: pl.DataFrame | pl.LazyFrame) -> int:
        """Write ``<name>.parquet``; returns its rows."""
        path = self._staging / f"{name}.parquet"
        self.drain()
        if isinstance(frame, pl.DataFrame):
            self._pending = self._writer.submit(frame.write_parquet, path)
            return frame.height
        frame.sink_parquet(path)
        return pq.ParquetFile(path).metadata.num_rows

    def put_text(self, name: str, text: str) -> None:
        (self._staging / name).write_text(text)

    def drain(self) -> None:
        """Wait for the pending write; raises its error here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()


@contextmanager
def staged_table(directory: Path) -> Iterator[StagedTable]:
    """Build a new version of the table in a fresh folder; swap it in when the block ends
    without an error, so readers never see half a table. On an error the live table stays."""
    staging = directory.with_name(directory.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with ThreadPoolExecutor(max_workers=1) as writer:
        table = StagedTable(directory, staging, writer)
        try:
            yield table
        finally:
            table.drain()
    retired = directory.with_name(directory.name + ".retired")
    shutil.rmtree(retired, ignore_errors=True)
    if directory.exists():
        directory.rename(retired)
    staging.rename(directory)
    shutil.rmtree(retired, ignore_errors=True)


def parts_version(directory: Path) -> str:
    """A cheap content fingerprint: each part's name, size and Parquet row count (read from the
    footer), so an unchanged rebuild keeps its data version."""
    digest = hashlib.sha256()
    for part in sorted(directory.glob("*.parquet")):
        rows = pq.ParquetFile(part).metadata.num_rows
        digest.update(f"{part.name}:{part.stat().st_size}:{rows}".encode())
    return digest.hexdigest()[:16]


def scan(directory: Path) -> pl.LazyFrame:
    if not directory.exists():
        raise FileNotFoundError(f"{directory} does not exist: materialize its asset first")
    return pl.scan_parquet(directory / "*.parquet")


def register_view(conn: duckdb.DuckDBPyConnection, table: str, directory: Path) -> None:
    """A DuckDB view over the parts, so the table is queryable like any other."""
    schema, _ = table.split(".")
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    pattern = str(directory / "*.parquet").replace("'", "''")
    conn.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet('{pattern}')")
