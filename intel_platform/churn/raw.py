"""Raw churn layer: each SaaS system's landing files as they are, one partition per day.

Values stay text and columns keep the source's names (the audit copy); only the header is
checked, so an unexplained schema change fails here naming the file. Usage is required for a
day; billing and help-desk exports are optional (an imported activity log has neither).
"""

from collections.abc import Callable
from datetime import date
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from intel_platform.churn import landing
from intel_platform.churn.contracts import SUBSCRIPTIONS, TICKETS, USAGE
from intel_platform.churn.partitions import DAILY, HISTORY_BACKFILL
from intel_platform.core.contracts import Contract
from intel_platform.core.ingest import DailySource, ingest_daily
from intel_platform.core.resources import ProjectHomeResource
from intel_platform.core.warehouse import table_name

KEY_PREFIX = ["churn", "raw"]
DAILY_RAW = {
    "key_prefix": KEY_PREFIX,
    "group_name": "churn_raw",
    "owners": ["team:churn"],
    "partitions_def": DAILY,
    "backfill_policy": HISTORY_BACKFILL,
    "code_version": "1",
    "metadata": {"partition_expr": "_partition"},
}


def _ingest(
    context: dg.AssetExecutionContext,
    warehouse: DuckDBResource,
    home: ProjectHomeResource,
    contract: Contract,
    file_of: Callable,
    required: bool,
) -> dg.MaterializeResult:
    def files_for_day(day: date) -> list[Path]:
        path = file_of(home.home, day)
        return [path] if path.exists() else []

    source = DailySource(
        table=table_name(context.asset_key),
        contract=contract,
        landing_root=landing.landing_root(home.home),
        files_for_day=files_for_day,
        required=required,
    )
    with warehouse.get_connection() as conn:
        return ingest_daily(context, conn, source)


@dg.asset(kinds={"json", "duckdb"}, **DAILY_RAW)
def usage_events(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource, project_home: ProjectHomeResource
) -> dg.MaterializeResult:
    """Product analytics events (JSON lines) or an imported activity log: required every day,
    as churn by inactivity reads a missing day as everyone inactive."""
    return _ingest(context, warehouse, project_home, USAGE, landing.usage_file, required=True)


@dg.asset(kinds={"csv", "duckdb"}, **DAILY_RAW)
def subscription_events(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource, project_home: ProjectHomeResource
) -> dg.MaterializeResult:
    """Billing events (CSV). Optional: without them churn is defined by inactivity."""
    file_of = landing.subscriptions_file
    return _ingest(context, warehouse, project_home, SUBSCRIPTIONS, file_of, required=False)


@dg.asset(kinds={"parquet", "duckdb"}, **DAILY_RAW)
def tickets(
    context: dg.AssetExecutionContext, warehouse: DuckDBResource, project_home: ProjectHomeResource
) -> dg.MaterializeResult:
    """Support tickets opened that day (Parquet). Optional source."""
    return _ingest(context, warehouse, project_home, TICKETS, landing.tickets_file, required=False)
