"""Raw demand layer: each retail system's landing files, as they are, one partition per day.

Values stay text and columns keep the source's own names (the audit copy); only the header is
checked, so a schema change no alias explains fails here, naming the file. A backfill of any
range is a single run (``BackfillPolicy.single_run``) that streams a week of files at a time.
"""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from intel_platform.core.ingest import DailySource, ingest_daily, ingest_reference
from intel_platform.core.landing import day_folder, landed_files
from intel_platform.core.resources import ProjectHomeResource
from intel_platform.core.warehouse import table_name
from intel_platform.demand import landing
from intel_platform.demand.contracts import INVENTORY, PLAN, PRODUCTS, SALES, STORES
from intel_platform.demand.partitions import DAILY, HISTORY_BACKFILL

KEY_PREFIX = ["demand", "raw"]
GROUP = "demand_raw"
OWNERS = ["team:demand"]
DAILY_RAW = {
    "key_prefix": KEY_PREFIX,
    "group_name": GROUP,
    "owners": OWNERS,
    "partitions_def": DAILY,
    "backfill_policy": HISTORY_BACKFILL,
    "metadata": {"partition_expr": "_partition"},
}
REFERENCE_RAW = {"key_prefix": KEY_PREFIX, "group_name": GROUP, "owners": OWNERS}


def _single_file(path: Path) -> list[Path]:
    return [path] if path.exists() else []


def pos_source(project_home: ProjectHomeResource) -> DailySource:
    root = landing.landing_root(project_home.home)
    return DailySource(
        table=table_name([*KEY_PREFIX, "pos_sales"]),
        contract=SALES,
        landing_root=root,
        files_for_day=lambda day: landed_files(day_folder(root, landing.POS_SALES, day), "*.csv"),
    )


@dg.asset(kinds={"csv", "duckdb"}, code_version="1", **DAILY_RAW)
def pos_sales(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    project_home: ProjectHomeResource,
) -> dg.MaterializeResult:
    """Daily POS summaries, one CSV per store and day: one row per active store x item, zero
    sales included, so a missing row is missing data. A day with no file at all fails."""
    with warehouse.get_connection() as conn:
        return ingest_daily(context, conn, pos_source(project_home))


@dg.asset(kinds={"json", "duckdb"}, code_version="1", **DAILY_RAW)
def ecom_orders(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    project_home: ProjectHomeResource,
) -> dg.MaterializeResult:
    """Web-shop order lines (JSON lines, its own column names), fulfilled by a store.
    Optional: stores without a web shop, or imported data, simply have none."""
    source = DailySource(
        table=table_name(context.asset_key),
        contract=SALES,
        landing_root=landing.landing_root(project_home.home),
        files_for_day=lambda day: _single_file(landing.ecom_file(project_home.home, day)),
        required=False,
    )
    with warehouse.get_connection() as conn:
        return ingest_daily(context, conn, source)


@dg.asset(kinds={"parquet", "duckdb"}, code_version="1", **DAILY_RAW)
def inventory(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    project_home: ProjectHomeResource,
) -> dg.MaterializeResult:
    """End-of-day on-hand snapshot per store x item (Parquet); replenishment needs it."""
    source = DailySource(
        table=table_name(context.asset_key),
        contract=INVENTORY,
        landing_root=landing.landing_root(project_home.home),
        files_for_day=lambda day: _single_file(landing.inventory_file(project_home.home, day)),
        required=False,
    )
    with warehouse.get_connection() as conn:
        return ingest_daily(context, conn, source)


@dg.asset(kinds={"csv", "duckdb"}, code_version="1", **REFERENCE_RAW)
def products(warehouse: DuckDBResource, project_home: ProjectHomeResource) -> dg.MaterializeResult:
    """The product catalog as delivered (category spellings vary by buyer)."""
    home = project_home.home
    with warehouse.get_connection() as conn:
        return ingest_reference(
            conn, table_name([*KEY_PREFIX, "products"]), landing.products_file(home), PRODUCTS,
            landing.landing_root(home),
        )  # fmt: skip


@dg.asset(kinds={"csv", "duckdb"}, code_version="1", **REFERENCE_RAW)
def stores(warehouse: DuckDBResource, project_home: ProjectHomeResource) -> dg.MaterializeResult:
    """The store list as delivered."""
    home = project_home.home
    with warehouse.get_connection() as conn:
        return ingest_reference(
            conn, table_name([*KEY_PREFIX, "stores"]), landing.stores_file(home), STORES,
            landing.landing_root(home),
        )  # fmt: skip


@dg.asset(kinds={"csv", "duckdb"}, code_version="1", **REFERENCE_RAW)
def plan(warehouse: DuckDBResource, project_home: ProjectHomeResource) -> dg.MaterializeResult:
    """Planned promotions and closures for days ahead, as delivered (optional: no file is an
    empty plan)."""
    home = project_home.home
    with warehouse.get_connection() as conn:
        return ingest_reference(
            conn, table_name([*KEY_PREFIX, "plan"]), landing.plan_file(home), PLAN,
            landing.landing_root(home), optional=True,
        )  # fmt: skip
