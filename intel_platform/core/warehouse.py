"""Table I/O on the DuckDB warehouse: partition replacement, schema evolution, range reads.

Assets own their writes (rather than returning frames to an IO manager) because a history
backfill is one run over thousands of partitions: it must stream chunk by chunk into the table,
never holding the whole range in memory. Every write of a partition range happens inside one
transaction: the delete and the insert commit together, so a re-run replaces, never doubles.
"""

from collections.abc import Iterator, Sequence
from datetime import date, timedelta

import dagster as dg
import duckdb
import polars as pl

_WIDE_TO_STRING = (pl.Categorical, pl.Enum)


def table_name(key: dg.AssetKey | Sequence[str]) -> str:
    """``demand/harmonized/sales`` lives in schema ``demand_harmonized``, table ``sales``."""
    path = key.path if isinstance(key, dg.AssetKey) else list(key)
    return f"{'_'.join(path[:-1])}.{path[-1]}"


def table_exists(conn: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    found = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(found and found[0])


def table_columns(conn: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    schema, name = table.split(".")
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    return [row[0] for row in rows]


def _storable(frame: pl.DataFrame) -> pl.DataFrame:
    """Categoricals are written as VARCHAR: DuckDB dictionary-compresses them anyway, and an
    ENUM column would reject the next partition's new values."""
    wide = [name for name, dtype in frame.schema.items() if isinstance(dtype, _WIDE_TO_STRING)]
    return frame.with_columns(pl.col(wide).cast(pl.String)) if wide else frame


def _ensure_table(conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    """Create the table from the frame's schema, or add columns the frame brings for the first
    time (a source that starts sending a known alias); existing columns are never dropped."""
    schema, _ = table.split(".")
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.register("_incoming_schema", frame.head(0))
    if not table_exists(conn, table):
        conn.execute(f"CREATE TABLE {table} AS SELECT * FROM _incoming_schema")
    else:
        present = set(table_columns(conn, table))
        described = conn.execute("DESCRIBE SELECT * FROM _incoming_schema").fetchall()
        for column, duck_type, *_ in described:
            if column not in present:
                conn.execute(f'ALTER TABLE {table} ADD COLUMN "{column}" {duck_type}')
    conn.unregister("_incoming_schema")


def replace_partitions(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    *,
    partition_column: str,
    first: date,
    last: date,
) -> int:
    """Replace rows with ``partition_column`` in [first, last] by ``frame``, atomically."""
    frame = _storable(frame)
    if frame.width == 0 and not table_exists(conn, table):
        return 0
    conn.execute("BEGIN TRANSACTION")
    try:
        if frame.width:
            _ensure_table(conn, table, frame)
        conn.execute(
            f'DELETE FROM {table} WHERE "{partition_column}" BETWEEN ? AND ?', [first, last]
        )
        _insert(conn, table, frame)
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return frame.height


def replace_table(conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Swap a whole (unpartitioned) table for ``frame`` in one transaction."""
    frame = _storable(frame)
    schema, _ = table.split(".")
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.register("_incoming", frame)
        conn.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _incoming")
        conn.unregister("_incoming")
        conn.execute("COMMIT")
    except Exception:
        conn.execute("ROLLBACK")
        raise
    return frame.height


def _insert(conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> None:
    if frame.height == 0:
        return
    conn.register("_incoming", frame)
    conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _incoming")
    conn.unregister("_incoming")


def read_range(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    *,
    partition_column: str,
    first: date,
    last: date,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Rows of [first, last]; the filter and projection are pushed down into DuckDB."""
    selected = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    query = f'SELECT {selected} FROM {table} WHERE "{partition_column}" BETWEEN ? AND ?'
    return conn.execute(query, [first, last]).pl()


def read_table(
    conn: duckdb.DuckDBPyConnection, table: str, columns: Sequence[str] | None = None
) -> pl.DataFrame:
    selected = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    return conn.execute(f"SELECT {selected} FROM {table}").pl()


def day_chunks(first: date, last: date, days: int) -> Iterator[tuple[date, date]]:
    """Consecutive [start, end] windows of at most ``days`` days covering [first, last]."""
    start = first
    while start <= last:
        end = min(last, start + timedelta(days=days - 1))
        yield start, end
        start = end + timedelta(days=1)


def refresh_union_view(conn: duckdb.DuckDBPyConnection, schema: str, suffix: str) -> None:
    """``<schema>.<suffix>``: one queryable view over every ``*_<suffix>`` table of the schema
    (e.g. all quarantines of a product), so users need not know each table's name."""
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? "
        "AND table_type = 'BASE TABLE' ORDER BY table_name",
        [schema],
    ).fetchall()
    names = [row[0] for row in rows if row[0].endswith(f"_{suffix}")]
    if names:
        union = " UNION ALL BY NAME ".join(f"SELECT * FROM {schema}.{n}" for n in names)
        conn.execute(f"CREATE OR REPLACE VIEW {schema}.{suffix} AS {union}")
