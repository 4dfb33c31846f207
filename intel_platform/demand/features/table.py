"""The feature table as a Dagster asset: daily demand read store by store in blocks of whole
series, ``build_features`` on each block, the table written as Parquet parts and checked by its
Pandera contract while the parts stream by. The feature rules themselves are in ``build``.

The table is rebuilt incrementally (``core.incremental``): features are point in time, so a
run recomputes only the days from the first changed input day on, reading the
``MIN_HISTORY_DAYS`` before them, and keeps the older segments. A landing day at the M5 shape
costs seconds instead of a full rebuild."""

__all__ = [
    "CHECKS",
    "CODES_TABLE",
    "DAILY_KEY",
    "KEY",
    "features_schema",
    "read_codes",
    "store_item_day",
]

import hashlib
import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl
from dagster_duckdb import DuckDBResource
from pandera.api.polars.types import PolarsData

from intel_platform.core.checks import CheckDefinition, CheckOutcome, contract_outcome
from intel_platform.core.incremental import (
    MANIFEST,
    Manifest,
    Plan,
    Segment,
    day_fingerprints,
    plan,
    read_manifest,
)
from intel_platform.core.metadata import table_metadata
from intel_platform.core.parquet_tables import (
    parts_version,
    register_view,
    staged_table,
    table_dir,
)
from intel_platform.core.resources import ProjectHomeResource
from intel_platform.core.warehouse import read_table, replace_table, table_exists, table_name
from intel_platform.demand.features import build
from intel_platform.demand.features.build import (
    CALENDAR_FEATURES,
    MIN_HISTORY_DAYS,
    TARGET,
    build_features,
)
from intel_platform.demand.features.codes import catalog_codes, catalog_items

DAILY_KEY = dg.AssetKey(["demand", "harmonized", "daily_demand"])  # built in harmonized.py
KEY = dg.AssetKey(["demand", "features", "store_item_day"])
CODES_TABLE = "demand_features.codes"  # the codebook, kept in the warehouse beside the view
_HARMONIZED = ["demand", "harmonized"]
_COVARIATES = ("units", "price_per_unit", "promo", "is_open")
_INPUT_COLUMNS = ("store_id", "item_id", *_COVARIATES)  # what a day's fingerprint hashes
# Rows per feature part (~120 parts at the M5 shape): build_features holds ~200 bytes a row at
# its peak, so the run stays near 0.5 GiB; a part always ends at a series boundary.
_ROWS_PER_PART = 500_000
# DuckDB keeps scanned blocks cached up to its memory limit (80 % of RAM by default): the
# fingerprints alone would cache ~0.3 GiB of the daily table. The features run caps it and gives
# the memory to Polars: at the M5 shape 64 MB costs no time against 128 MB and saves ~0.06 GiB
# of peak RSS; the per-store sort spills beyond it, and 32 MB runs out of memory (measured).
_DUCKDB_MEMORY = "64MB"
# The newest segment is rewritten by each landing day until it spans this many days.
_OPEN_SEGMENT_DAYS = 28

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
    """What the run learns while the parts stream by: contract outcome, rows and schema, so
    nothing re-reads the parts afterwards."""

    outcome: CheckOutcome = field(default_factory=CheckOutcome)
    schema: Mapping[str, pl.DataType] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Rows of the parts written: each part is checked once, whole."""
        return self.outcome.rows_checked

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
    conn: duckdb.DuckDBPyConnection, store: str, items: str, since: date, rows: int
) -> Iterator[pl.DataFrame]:
    """One store's daily demand from ``since`` on, sorted by item and date, in blocks of about
    ``rows`` rows that each end where a series ends. DuckDB filters and sorts; Arrow batches
    stream out, so only one block (plus the series it cut) is held here. A store without rows
    yields one empty block, so its part still carries the schema."""
    query = (
        f"SELECT CAST(item_id AS {items}) AS item_id, date, {', '.join(_COVARIATES)} "
        f"FROM {table_name(DAILY_KEY)} WHERE store_id = ? AND date >= ? ORDER BY 1, 2"
    )
    reader = conn.execute(query, [store, since]).to_arrow_reader(rows)
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


@dataclass(frozen=True)
class _Catalog:
    """The harmonized catalog and the codebook the features encode it with."""

    products: pl.DataFrame
    stores: pl.DataFrame
    codes: pl.DataFrame

    def context(self) -> dict[str, str]:
        """What each store's and item's rows are built with (an item's category and department
        give its codes), for the manifest: a changed entry recomputes that series' rows."""
        return {
            **{f"store:{store}": "" for store in self.stores["store_id"].cast(pl.String)},
            **{f"item:{i}": f"{c}|{d}" for i, c, d in catalog_items(self.products).iter_rows()},
        }


def _feature_parts(
    conn: duckdb.DuckDBPyConnection, catalog: _Catalog, start: date | None, tally: _Tally
) -> Iterator[tuple[str, pl.DataFrame]]:
    """Feature parts of the days from ``start`` on (None: all days), store by store, a block of
    whole series at a time: a block is computed, checked and handed to the writer before the
    next one is read. Each block reads the ``MIN_HISTORY_DAYS`` before ``start`` and gets the
    first sales of the older history, so its rows equal a full rebuild's; codes come from the
    codebook, so a block gets exactly the features the whole table would."""
    since, earlier = date.min, None
    if start is not None:
        since = start - timedelta(days=MIN_HISTORY_DAYS)
        earlier = _first_sales_before(conn, since)
    items = _item_enum(conn)
    for store in sorted(catalog.stores["store_id"].to_list()):
        known = None if earlier is None else earlier.filter(pl.col("store_id") == store)
        for k, block in enumerate(_store_blocks(conn, store, items, since, _ROWS_PER_PART)):
            part = build_features(
                block.lazy(), catalog.products, codes=catalog.codes, first_sales=known
            )
            if start is not None:
                part = _new_rows(part, block, start)
            part = part.collect(engine="streaming")
            tally.check(part)
            yield f"{store}-{k:03d}", part


def _new_rows(features: pl.LazyFrame, block: pl.DataFrame, start: date) -> pl.LazyFrame:
    """The rows a rebuild from ``start`` owns: the days from ``start`` on, and the missing days
    just before it of a series that went quiet before ``start`` and came back. Those rows did
    not exist when the kept segments were built (a series' grid ends at its last row), and a
    full build has them. Only a series quiet for more than ``MIN_HISTORY_DAYS`` misses them."""
    last_before = (
        block.lazy()
        .filter(pl.col("date") < start)
        .group_by("item_id")
        .agg(_last_before=pl.col("date").max())
    )
    since_quiet = pl.col("date") > pl.col("_last_before").fill_null(start)
    return (
        features.join(last_before, on="item_id", how="left", maintain_order="left")
        .filter((pl.col("date") >= start) | since_quiet)
        .drop("_last_before")
    )


def _first_sales_before(conn: duckdb.DuckDBPyConnection, day: date) -> pl.DataFrame:
    """``build.first_sales`` of the days before ``day``, aggregated where the data is."""
    return conn.execute(
        f"SELECT store_id, item_id, min(date) AS first_sale FROM {table_name(DAILY_KEY)} "
        "WHERE units > 0 AND date < ? GROUP BY ALL",
        [day],
    ).pl()


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


def _signature() -> str:
    """What every row depends on beyond its inputs and catalog context: the feature rules
    (``build``'s source). A change rebuilds the whole table."""
    return hashlib.sha256(inspect.getsource(build).encode()).hexdigest()[:16]


def read_codes(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame | None:
    """The codebook the feature table (and so every model trained on it) uses; None before the
    first build. Forecasts encode with it, so a champion reads the codes it was trained on."""
    return read_table(conn, CODES_TABLE) if table_exists(conn, CODES_TABLE) else None


def _recoded_from(
    conn: duckdb.DuckDBPyConnection, previous: Manifest | None, context: Mapping[str, str]
) -> date | None:
    """The first day of daily demand of the stores and items whose context changed since the
    last build (a launch with earlier sales, a re-categorized item): their rows from that day
    on get other codes. New series without rows yet change nothing."""
    changed = previous.changed_keys(context) if previous else set()
    keys = pl.DataFrame([key.split(":", 1) for key in changed], schema=["kind", "id"], orient="row")
    if keys.is_empty():
        return None
    conn.register("_recoded", keys.to_arrow())
    try:
        return conn.execute(
            f"SELECT min(d.date) FROM {table_name(DAILY_KEY)} d JOIN _recoded k "
            "ON (k.kind = 'item' AND d.item_id = k.id) OR (k.kind = 'store' AND d.store_id = k.id)"
        ).fetchone()[0]
    finally:
        conn.unregister("_recoded")


def _rebuild(
    conn: duckdb.DuckDBPyConnection,
    directory: Path,
    step: Plan,
    manifest: Manifest,
    catalog: _Catalog,
    tally: _Tally,
) -> Manifest:
    """Swap in a table of the kept segments (hard links) plus the recomputed days as one new
    segment, its parts named after the segment's first day so they never collide with a kept
    part; returns the new manifest (written with the parts)."""
    first = step.start or min(manifest.inputs, default=None)
    prefix = first.strftime("%Y%m%d") if first else "empty"
    with staged_table(directory) as table:
        table.keep(part for segment in step.keep for part in segment.parts)
        parts = []
        for name, part in _feature_parts(conn, catalog, step.start, tally):
            table.write(f"{prefix}-{name}", part)
            parts.append(f"{prefix}-{name}.parquet")
        segments, last = step.keep, max(manifest.inputs, default=None)
        if first is not None and first <= last:  # else the days from ``start`` on were deleted
            segments += (Segment(first, last, tuple(parts), tally.rows, tally.outcome.passed),)
        manifest = replace(manifest, segments=segments)
        table.put_text(MANIFEST, manifest.to_json())
    return manifest


@dg.asset(
    key=KEY, group_name="demand_features", owners=["team:demand"], code_version="3",
    deps=[DAILY_KEY, *(dg.AssetKey([*_HARMONIZED, name]) for name in ("products", "stores"))],
    kinds={"polars", "parquet", "duckdb"}, check_specs=[c.spec for c in CHECKS],
)  # fmt: skip
def store_item_day(warehouse: DuckDBResource, project_home: ProjectHomeResource):
    """Training and scoring features per store x item x day (lags 7/14/28/364, past-only
    rolling mean/std 7/28, price change, promo, calendar and holidays, codes, days since first
    sale), from the daily demand table, built a block of series at a time so neither input nor
    table ever sits whole in memory. Only the days from the first changed input day on are
    recomputed (M5 shape: a full build ~30 s and ~0.75 GiB peak, a landing day a few seconds;
    scripts/bench_features_asset.py measures both)."""
    directory = table_dir(project_home.home, KEY)
    tally = _Tally()
    with warehouse.get_connection() as conn, _memory_limit(conn, _DUCKDB_MEMORY):
        catalog = _read_catalog(conn)
        inputs = day_fingerprints(conn, table_name(DAILY_KEY), _INPUT_COLUMNS)
        previous = read_manifest(directory)
        manifest = Manifest(_signature(), inputs, context=catalog.context())
        recoded = _recoded_from(conn, previous, manifest.context)
        step = plan(previous, manifest.signature, inputs, _OPEN_SEGMENT_DAYS, recoded)
        replace_table(conn, CODES_TABLE, catalog.codes)  # only grows: safe before the parts
        if step.recompute:
            manifest = _rebuild(conn, directory, step, manifest, catalog, tally)
        else:
            manifest = replace(manifest, segments=step.keep)
        register_view(conn, table_name(KEY), directory)
        as_of = _data_as_of(conn)
    yield dg.MaterializeResult(
        data_version=dg.DataVersion(parts_version(directory)),
        metadata={
            **table_metadata(manifest.rows, tally.schema or _stored_schema(directory)),
            "data_as_of": str(as_of),
            "path": dg.MetadataValue.path(str(directory)),
            **_increment_metadata(step, manifest, tally),
        },
    )
    kept = CheckOutcome(observed={"rows_kept_checked_when_written": manifest.rows - tally.rows})
    yield CHECKS[0].result(tally.outcome.merge(kept))


def _read_catalog(conn: duckdb.DuckDBPyConnection) -> _Catalog:
    """Products, stores and the codebook grown by the values new to the catalog."""
    products = read_table(conn, table_name([*_HARMONIZED, "products"]))
    stores = read_table(conn, table_name([*_HARMONIZED, "stores"]), ["store_id"])
    return _Catalog(products, stores, catalog_codes(products, stores, read_codes(conn)))


def _data_as_of(conn: duckdb.DuckDBPyConnection) -> date | None:
    """The newest day with known units: what every feature row is based on."""
    query = f"SELECT max(date) FROM {table_name(DAILY_KEY)} WHERE {TARGET} IS NOT NULL"
    return conn.execute(query).fetchone()[0]


def _stored_schema(directory: Path) -> Mapping[str, pl.DataType]:
    """The schema of a kept part (footer only), when the run wrote no part."""
    part = next(directory.glob("*.parquet"), None)
    return pl.read_parquet_schema(part) if part else {}


def _increment_metadata(step: Plan, manifest: Manifest, tally: _Tally) -> dict[str, object]:
    """What the run recomputed and why, for the engineer who wonders why it took 3 s or 30."""
    return {
        "increment": step.reason,
        "recomputed_from": str(step.start or "the first day") if step.recompute else "nothing",
        "rows_written": tally.rows,
        "segments": len(manifest.segments),
    }
