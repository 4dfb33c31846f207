"""Harmonized demand layer: every source on one contract, bad rows quarantined with a reason.

Each table is materialized together with its quarantine (a multi-asset), so re-running a
partition after a mapping fix moves rows from one to the other with nothing lost or doubled.
Checks run on the rows as they are written; blocking ones stop features and decisions.
"""

from datetime import date
from functools import partial

import dagster as dg
import duckdb
import pandera.polars as pa
import polars as pl
from dagster_duckdb import DuckDBResource

from intel_platform.core.checks import (
    CheckDefinition,
    CheckOutcome,
    completeness_outcome,
    contract_outcome,
    null_rate_outcome,
    quarantine_rate_outcome,
)
from intel_platform.core.harmonize import HarmonizeRun, Split, harmonized_results
from intel_platform.core.harmonized_layer import HarmonizedLayer
from intel_platform.core.metadata import table_metadata
from intel_platform.core.partitions import partition_days
from intel_platform.core.resources import ProjectHomeResource
from intel_platform.core.warehouse import (
    day_chunks,
    read_range,
    replace_partitions,
    table_exists,
    table_name,
)
from intel_platform.demand import checks
from intel_platform.demand.contracts import (
    INVENTORY,
    PLAN,
    PRODUCTS,
    SALES,
    STORES,
    InventoryModel,
    PlanModel,
    ProductsModel,
    SalesModel,
    StoresModel,
    category_aliases,
)
from intel_platform.demand.harmonize import (
    INVENTORY_SCHEMA,
    SALES_SCHEMA,
    STORE_ITEM_DAY,
    daily_demand,
    expected_pos_keys,
    split_inventory,
    split_plan,
    split_products,
    split_sales,
    split_stores,
    update_first_seen,
)
from intel_platform.demand.partitions import DAILY, HISTORY_BACKFILL

SALES_GRAIN = (*STORE_ITEM_DAY, "source", "line_id")


class HarmonizeConfig(dg.Config):
    """Thresholds on-call may tune per run; defaults follow ../shared/DOMAIN.md."""

    chunk_days: int = 28
    max_price_ratio: float = 20.0
    max_null_rate: float = 0.05
    max_quarantine_rate: float = 0.01
    min_quarantine_rows: int = 10
    max_missing_share: float = 0.01
    min_missing_rows: int = 5


LAYER = HarmonizedLayer("demand")
_key, _raw, _specs = LAYER.key, LAYER.raw_key, LAYER.specs


def _reference(conn: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame:
    return LAYER.reference(conn, name)


class _Assortment:
    """The first day each store reported each item, carried across the chunks of a run: the
    history already in the table, then each chunk's arrivals (the completeness baseline)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        table = table_name(_key("sales"))
        self.first_seen = pl.DataFrame(
            schema={"store_id": pl.String, "item_id": pl.String, "first_seen": pl.Date}
        )
        if table_exists(conn, table):
            self.first_seen = conn.execute(
                f"SELECT store_id, item_id, min(date) AS first_seen FROM {table} "
                "WHERE source = 'pos' GROUP BY ALL"
            ).pl()

    def observe(self, arrived: pl.DataFrame) -> pl.DataFrame:
        self.first_seen = update_first_seen(self.first_seen, arrived)
        return self.first_seen


def _sales_outcomes(
    chunk: Split,
    first: date,
    last: date,
    *,
    refs: tuple,
    assortment: _Assortment,
    config: HarmonizeConfig,
) -> dict[str, CheckOutcome]:
    stores, products = refs
    pos = chunk.good.filter(pl.col("source") == "pos")
    keys = ["store_id", "item_id", "date"]
    arrived = pos.select(keys)
    if chunk.rejected.height:
        broken = chunk.rejected.filter(pl.col("source") == "pos").select(keys)
        arrived = pl.concat([arrived, broken.drop_nulls()], how="vertical_relaxed")
    expected = expected_pos_keys(stores, products, assortment.observe(arrived), first, last)
    return {
        "sales_contract": contract_outcome(SalesModel, chunk.good),
        "sales_price_null_rate": null_rate_outcome(
            chunk.good, ["price_per_unit"], partition_column="date", max_rate=config.max_null_rate
        ),
        "sales_quarantine_rate": quarantine_rate_outcome(
            pos.group_by(partition_date="date").len("kept"),
            chunk.quarantined,
            max_rate=config.max_quarantine_rate,
            min_rows=config.min_quarantine_rows,
        ),  # fmt: skip
        "sales_completeness": completeness_outcome(
            arrived,
            expected,
            keys=keys,
            partition_column="date",
            max_missing_share=config.max_missing_share,
            min_missing=config.min_missing_rows,
        ),  # fmt: skip
    }


@dg.multi_asset(
    specs=_specs(
        "sales",
        [_raw("pos_sales"), _raw("ecom_orders"), _key("products"), _key("stores")],
        "One row per source line on the sales contract (POS daily summaries and web-shop "
        "order lines), unique by (source, line_id); features aggregate it per store-item-day.",
        metadata={"partition_expr": "date"},
    ),
    check_specs=[c.spec for c in checks.SALES],
    partitions_def=DAILY,
    backfill_policy=HISTORY_BACKFILL,
)
def sales(context: dg.AssetExecutionContext, config: HarmonizeConfig, warehouse: DuckDBResource):
    days = partition_days(context)
    with warehouse.get_connection() as conn:
        refs = (_reference(conn, "stores"), _reference(conn, "products"))
        common = {"stores": refs[0], "products": refs[1], "max_price_ratio": config.max_price_ratio}
        sources = [
            (
                "pos_sales",
                lambda raw, a, b: split_sales(raw, source="pos", first=a, last=b, **common),
            ),
            (
                "ecom_orders",
                lambda raw, a, b: split_sales(raw, source="ecom", first=a, last=b, **common),
            ),
        ]
        split = partial(LAYER.split_sources, conn, sources, table="sales", empty=SALES_SCHEMA,
                        grain=SALES_GRAIN)  # fmt: skip
        evaluate = partial(_sales_outcomes, refs=refs, assortment=_Assortment(conn), config=config)
        run = _harmonize(conn, "sales", days, split, evaluate, config)
        lineage = LAYER.lineage(conn, SALES, ["pos_sales", "ecom_orders"])
    yield from harmonized_results(
        run, key=_key("sales"), quarantine_key=_key("sales_quarantine"), checks=checks.SALES,
        extra_metadata={**lineage, "partitions": f"{days[0]}..{days[-1]}"},
    )  # fmt: skip


def _harmonize(conn, name: str, days: list[date], split, evaluate, config) -> HarmonizeRun:
    return LAYER.harmonize(conn, name, days, split, evaluate, config.chunk_days)


def _inventory_outcomes(
    chunk: Split, _first: date, _last: date, *, config: HarmonizeConfig
) -> dict[str, CheckOutcome]:
    kept = chunk.good.group_by(partition_date="date").len("kept")
    return {
        "inventory_contract": contract_outcome(InventoryModel, chunk.good),
        "inventory_quarantine_rate": quarantine_rate_outcome(
            kept,
            chunk.quarantined,
            max_rate=config.max_quarantine_rate,
            min_rows=config.min_quarantine_rows,
        ),  # fmt: skip
    }


@dg.multi_asset(
    specs=_specs(
        "inventory",
        [_raw("inventory"), _key("products"), _key("stores")],
        "End-of-day on-hand and on-order units per store-item-day: what replenishment nets "
        "its orders against.",
        metadata={"partition_expr": "date"},
    ),
    check_specs=[c.spec for c in checks.INVENTORY],
    partitions_def=DAILY,
    backfill_policy=HISTORY_BACKFILL,
)
def inventory(
    context: dg.AssetExecutionContext, config: HarmonizeConfig, warehouse: DuckDBResource
):
    days = partition_days(context)
    with warehouse.get_connection() as conn:
        refs = {"stores": _reference(conn, "stores"), "products": _reference(conn, "products")}
        sources = [("inventory", lambda raw, a, b: split_inventory(raw, first=a, last=b, **refs))]
        split = partial(LAYER.split_sources, conn, sources, table="inventory",
                        empty=INVENTORY_SCHEMA, grain=STORE_ITEM_DAY)  # fmt: skip
        evaluate = partial(_inventory_outcomes, config=config)
        run = _harmonize(conn, "inventory", days, split, evaluate, config)
        lineage = LAYER.lineage(conn, INVENTORY, ["inventory"])
    yield from harmonized_results(
        run, key=_key("inventory"), quarantine_key=_key("inventory_quarantine"),
        checks=checks.INVENTORY, extra_metadata={**lineage, "partitions": f"{days[0]}..{days[-1]}"},
    )  # fmt: skip


@dg.multi_asset(
    specs=_specs(
        "products",
        [_raw("products")],
        "The catalog with canonical categories (alias table: demand/category_aliases.csv plus "
        "<home>/mappings/category_aliases.csv), one row per item.",
    ),
    check_specs=[c.spec for c in checks.PRODUCTS],
)
def products(warehouse: DuckDBResource, project_home: ProjectHomeResource):
    categories = category_aliases(project_home.home.mappings)
    with warehouse.get_connection() as conn:
        splitter = partial(split_products, categories=categories)
        run = LAYER.reference_table(conn, "products", splitter, ProductsModel)
        lineage = LAYER.lineage(conn, PRODUCTS, ["products"])
    yield from harmonized_results(
        run, key=_key("products"), quarantine_key=_key("products_quarantine"),
        checks=checks.PRODUCTS, extra_metadata=lineage,
    )  # fmt: skip


@dg.multi_asset(
    specs=_specs("stores", [_raw("stores")], "The store list, one row per store."),
    check_specs=[c.spec for c in checks.STORES],
)
def stores(warehouse: DuckDBResource):
    with warehouse.get_connection() as conn:
        run = LAYER.reference_table(conn, "stores", split_stores, StoresModel)
        lineage = LAYER.lineage(conn, STORES, ["stores"])
    yield from harmonized_results(
        run, key=_key("stores"), quarantine_key=_key("stores_quarantine"),
        checks=checks.STORES, extra_metadata=lineage,
    )  # fmt: skip


@dg.multi_asset(
    specs=_specs(
        "plan",
        [_raw("plan"), _key("products"), _key("stores")],
        "Known-in-advance flags of future days per store x item (planned promotions and "
        "closures): the forecast horizon's covariates where a plan exists.",
    ),
    check_specs=[c.spec for c in checks.PLAN],
)
def plan(warehouse: DuckDBResource):
    with warehouse.get_connection() as conn:
        refs = {"stores": _reference(conn, "stores"), "products": _reference(conn, "products")}
        run = LAYER.reference_table(conn, "plan", partial(split_plan, **refs), PlanModel)
        lineage = LAYER.lineage(conn, PLAN, ["plan"])
    yield from harmonized_results(
        run, key=_key("plan"), quarantine_key=_key("plan_quarantine"),
        checks=checks.PLAN, extra_metadata=lineage,
    )  # fmt: skip


# --- The store x item x day grain, kept per partition: what the feature table reads ----------

DAILY_KEY = _key("daily_demand")
DAILY_SALES_COLUMNS = ("source", "store_id", "item_id", "date", "units", "price_per_unit",
                       "promo", "is_open")  # fmt: skip
DAILY_CHECKS = [
    CheckDefinition(
        DAILY_KEY,
        "daily_demand_contract",
        "Pandera: one row per store-item-day, units >= 0 or null (no POS row), ids and date "
        "never null.",
        "A daily_demand rule broke: read sample_rows, fix daily_demand in "
        "intel_platform/demand/harmonize.py (with a test), re-materialize group "
        "demand_harmonized for failed_partitions.",
    ),
]


class DailyDemandConfig(dg.Config):
    """Days aggregated per read and write during a history backfill (memory vs round trips)."""

    chunk_days: int = 28


def daily_schema() -> pa.DataFrameSchema:
    """``daily_demand``'s contract: the grain is unique and known; units are null only when
    the day had no POS row."""
    return pa.DataFrameSchema(
        {
            "units": pa.Column(nullable=True, checks=pa.Check.ge(0)),
            **{column: pa.Column(nullable=False) for column in STORE_ITEM_DAY},
        },
        unique=list(STORE_ITEM_DAY),
    )


@dg.asset(
    key=DAILY_KEY, group_name="demand_harmonized", owners=["team:demand"], code_version="1",
    deps=[_key("sales")], kinds={"polars", "duckdb"},
    partitions_def=DAILY, backfill_policy=HISTORY_BACKFILL, metadata={"partition_expr": "date"},
    check_specs=[c.spec for c in DAILY_CHECKS],
)  # fmt: skip
def daily_demand_table(
    context: dg.AssetExecutionContext, config: DailyDemandConfig, warehouse: DuckDBResource
):
    """Harmonized sales at the store x item x day grain (``daily_demand``), kept per daily
    partition: a day is aggregated once when it is harmonized, and a re-harmonized day replaces
    its rows, so the feature table reads a narrow, ready input instead of every sales line."""
    days = partition_days(context)
    rows, outcome, schema = 0, CheckOutcome(), {}
    with warehouse.get_connection() as conn:
        for first, last in day_chunks(days[0], days[-1], config.chunk_days):
            sales = read_range(conn, LAYER.table("sales"), partition_column="date",
                               first=first, last=last, columns=DAILY_SALES_COLUMNS)  # fmt: skip
            daily = daily_demand(sales.lazy()).collect()
            outcome = outcome.merge(contract_outcome(daily_schema(), daily))
            rows += replace_partitions(conn, table_name(DAILY_KEY), daily,
                                       partition_column="date", first=first, last=last)  # fmt: skip
            schema = daily.schema
    yield dg.MaterializeResult(
        metadata={**table_metadata(rows, schema), "partitions": f"{days[0]}..{days[-1]}"}
    )
    yield DAILY_CHECKS[0].result(outcome)
