"""The feature table as a Dagster asset: daily demand read store by store in blocks of whole
series, ``build_features`` on each block, the table written as Parquet parts and checked by its
Pandera contract while the parts stream by. The feature rules themselves are in ``build``."""

__all__ = ["CHECKS", "DAILY_KEY", "KEY", "features_schema", "store_item_day"]

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl
from dagster_duckdb import DuckDBResource
from pandera.api.polars.types import PolarsData

from intel_platform.core.checks import CheckDefinition, CheckOutcome, contract_outcome
from intel_platform.core.metadata import table_metadata
from intel_platform.core.parquet_tables import parts_version, register_view, table_dir, write_parts
from intel_platform.core.resources import ProjectHomeResource
from intel_platform.core.warehouse import (
    read_table,
    table_name,
)
from intel_platform.demand.features.build import CALENDAR_FEATURES, TARGET, build_features

DAILY_KEY = dg.AssetKey(["demand", "harmonized", "daily_demand"])  # built in harmonized.py
KEY = dg.AssetKey(["demand", "features", "store_item_day"])
_HARMONIZED = ["demand", "harmonized"]
_COVARIATES = ("units", "price_per_unit", "promo", "is_open")
# Rows per feature part (~120 parts at the M5 shape): build_features holds ~200 bytes a row at
# its peak, so the run stays near 0.5 GiB; a part always ends at a series boundary.
_ROWS_PER_PART = 500_000
# DuckDB keeps scanned blocks cached up to its memory limit (80 % of RAM by default); the
# per-store sort needs ~0.1 GiB, so the features run caps it and gives the memory to Polars.
_DUCKDB_MEMORY = "128MB"

CHECKS = [
    CheckDefinition(
        KEY,
        "features_contract",
        "Pandera: one row per store-item-day, units >= 0 or null (missing, never zero), "
        "calendar and store/item codes never null.",
        "A feature rule broke: read sample_rows, fix intel_platform/demand/features/build.py "
        "(with a test), re-materialize the features; training and forecasts wait meanwhile.",
    ),
]


def features_schema() -> pa.DataFrameSchema:
    """The feature table's contract: lags and windows may be null (young series), and a missing
    day has unknown units, price and promo; calendar and codes are always known. One row per
    store-item-day is checked as (store_code, item_code, date) strictly increasing within a
    part, which also pins the sort order readers rely on, in one pass instead of a hash."""
    never_null = [*CALENDAR_FEATURES, "store_code", "item_code", "date"]
    return pa.DataFrameSchema(
        {
            TARGET: pa.Column(nullable=True, checks=pa.Check.ge(0)),
            **{column: pa.Column(nullable=False) for column in never_null},
        },
        checks=[pa.Check(_grain_increases, name="one_row_per_store_item_day_in_grain_order")],
    )


def _grain_increases(data: PolarsData) -> pl.LazyFrame:
    """Per row: (store_code, item_code, date) is greater than the previous row's."""
    s, i, d = (pl.col(c) for c in ("store_code", "item_code", "date"))
    later = (s > s.shift(1)) | (
        (s == s.shift(1)) & ((i > i.shift(1)) | ((i == i.shift(1)) & (d > d.shift(1))))
    )
    return data.lazyframe.select((pl.int_range(pl.len()) == 0) | later.fill_null(False))


@dataclass
class _Tally:
    """What the run learns while the parts stream by: contract outcome, newest known day and
    the schema, so nothing re-reads the parts afterwards."""

    outcome: CheckOutcome = field(default_factory=CheckOutcome)
    data_as_of: date | None = None
    schema: Mapping[str, pl.DataType] = field(default_factory=dict)

    def observe(self, daily: pl.DataFrame) -> None:
        newest = daily.filter(pl.col(TARGET).is_not_null())["date"].max()
        if newest is not None and (self.data_as_of is None or newest > self.data_as_of):
            self.data_as_of = newest

    def check(self, part: pl.DataFrame) -> None:
        """Pandera on the part in memory, on the contract's columns only (ids as codes); on a
        failure it runs again with the ids, so sample_rows names the series."""
        schema = features_schema()
        columns = [TARGET, *schema.columns.keys() - {TARGET}]
        outcome = contract_outcome(schema, part.select(columns))
        if not outcome.passed:
            outcome = contract_outcome(schema, part.select("store_id", "item_id", *columns))
        self.outcome, self.schema = self.outcome.merge(outcome), part.schema


def _item_enum(conn: duckdb.DuckDBPyConnection) -> str:
    """A DuckDB ENUM of the stored item ids, sorted: read as ENUM, ids cross to Polars as
    dictionary codes (no per-row strings) and sort as integers in catalog order."""
    items = conn.execute(
        f"SELECT DISTINCT item_id FROM {table_name(DAILY_KEY)} WHERE item_id IS NOT NULL ORDER BY 1"
    )
    quoted = ", ".join("'" + item.replace("'", "''") + "'" for (item,) in items.fetchall())
    return f"ENUM({quoted})" if quoted else "VARCHAR"  # no rows: nothing to cast


def _store_blocks(
    conn: duckdb.DuckDBPyConnection, store: str, items: str, rows: int
) -> Iterator[pl.DataFrame]:
    """One store's daily demand sorted by item and date, in blocks of about ``rows`` rows that
    each end where a series ends. DuckDB filters and sorts; Arrow batches stream out, so only
    one block (plus the series it cut) is held here. A store without rows yields one empty
    block, so its part still carries the schema."""
    query = (
        f"SELECT CAST(item_id AS {items}) AS item_id, date, {', '.join(_COVARIATES)} "
        f"FROM {table_name(DAILY_KEY)} WHERE store_id = ? ORDER BY 1, 2"
    )
    reader = conn.execute(query, [store]).to_arrow_reader(rows)
    pending, blocks = [pl.DataFrame(pl.from_arrow(reader.schema.empty_table()))], 0
    for batch in reader:  # DuckDB may hand out smaller batches than asked for
        pending.append(pl.DataFrame(pl.from_arrow(batch)))
        if sum(frame.height for frame in pending) < rows:
            continue
        frame = pl.concat(pending)
        new_series = (pl.col("item_id") != pl.col("item_id").shift(1)).fill_null(True)
        cut = frame.select(pl.arg_where(new_series).max()).item()  # the last series' start
        if cut:
            yield _with_store(frame.slice(0, cut), store)
            blocks += 1
        pending = [frame.slice(cut)]
    rest = pl.concat(pending)
    if rest.height or not blocks:
        yield _with_store(rest, store)


def _with_store(block: pl.DataFrame, store: str) -> pl.DataFrame:
    """``daily_demand``'s layout: Categorical ids first (the store is one value per query)."""
    return block.select(
        pl.lit(store).cast(pl.Categorical).alias("store_id"),
        pl.col("item_id").cast(pl.Categorical),
        pl.exclude("item_id"),
    )


def _feature_parts(
    conn: duckdb.DuckDBPyConnection, products: pl.DataFrame, stores: pl.DataFrame, tally: _Tally
) -> Iterator[tuple[str, pl.DataFrame]]:
    """Feature parts store by store, a block of whole series at a time: a block is computed,
    checked and handed to the writer before the next one is read. Codes come from the whole
    catalog, so a block gets exactly the features the whole table would."""
    items = _item_enum(conn)
    with _memory_limit(conn, _DUCKDB_MEMORY):
        for store in sorted(stores["store_id"].to_list()):
            for k, block in enumerate(_store_blocks(conn, store, items, _ROWS_PER_PART)):
                tally.observe(block)
                part = build_features(block.lazy(), products, stores=stores)
                part = part.collect(engine="streaming")
                tally.check(part)
                yield f"{store}-{k:03d}", part


@contextmanager
def _memory_limit(conn: duckdb.DuckDBPyConnection, limit: str) -> Iterator[None]:
    """DuckDB's memory limit while the parts are built, then the setting it had (it is per
    database, and the other assets of an in-process run share the database)."""
    (before,) = conn.execute("SELECT current_setting('memory_limit')").fetchone()
    conn.execute(f"SET memory_limit = '{limit}'")
    try:
        yield
    finally:
        conn.execute(f"SET memory_limit = '{before}'")


@dg.asset(
    key=KEY, group_name="demand_features", owners=["team:demand"], code_version="2",
    deps=[DAILY_KEY, *(dg.AssetKey([*_HARMONIZED, name]) for name in ("products", "stores"))],
    kinds={"polars", "parquet", "duckdb"}, check_specs=[c.spec for c in CHECKS],
)  # fmt: skip
def store_item_day(warehouse: DuckDBResource, project_home: ProjectHomeResource):
    """Training and scoring features per store x item x day (lags 7/14/28/364, past-only
    rolling mean/std 7/28, price change, promo, calendar and holidays, codes, days since first
    sale), from the daily demand table, built a block of series at a time so neither input nor
    table ever sits whole in memory (M5 shape: ~0.75 GiB peak, about half the time spent
    writing Parquet; scripts/bench_features_asset.py measures it)."""
    directory = table_dir(project_home.home, KEY)
    tally = _Tally()
    with warehouse.get_connection() as conn:
        products = read_table(conn, table_name([*_HARMONIZED, "products"]))
        stores = read_table(conn, table_name([*_HARMONIZED, "stores"]), ["store_id"])
        rows = write_parts(directory, _feature_parts(conn, products, stores, tally))
        register_view(conn, table_name(KEY), directory)
    yield dg.MaterializeResult(
        data_version=dg.DataVersion(parts_version(directory)),
        metadata={
            **table_metadata(rows, tally.schema),
            "data_as_of": str(tally.data_as_of),
            "path": dg.MetadataValue.path(str(directory)),
        },
    )
    yield CHECKS[0].result(tally.outcome)
