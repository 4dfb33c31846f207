"""Decision layer: what procurement acts on. Pure policy on top, a thin asset below.

order = max(0, demand over lead time + review period + safety stock - on hand - on order),
with safety stock taken from the forecast's own spread (p90 - p50 summed over the lead time):
an uncertain item carries more stock than a steady one. Every row says why.
"""

from dataclasses import dataclass

import dagster as dg
import duckdb
import polars as pl
from dagster_duckdb import DuckDBResource

from intel_platform.core.metadata import markdown_table, table_metadata
from intel_platform.core.warehouse import read_table, replace_table, table_exists, table_name

GRAIN = ["store_id", "item_id"]


@dataclass(frozen=True)
class ReplenishmentPolicy:
    lead_time_days: int = 7
    review_days: int = 7
    safety_multiplier: float = 1.0


def _horizon_sums(forecast: pl.DataFrame, policy: ReplenishmentPolicy) -> pl.DataFrame:
    """Demand over lead time + review period, and the spread over the lead time."""
    cover = policy.lead_time_days + policy.review_days
    return forecast.group_by(GRAIN).agg(
        demand=pl.col("p50").filter(pl.col("horizon") <= cover).sum(),
        spread=(pl.col("p90") - pl.col("p50"))
        .filter(pl.col("horizon") <= policy.lead_time_days)
        .sum(),
        fallback=pl.col("fallback").first() if "fallback" in forecast.columns else pl.lit("none"),
        data_as_of=pl.col("data_as_of").first(),
        model_version=pl.col("model_version").first(),
        drivers=pl.col("drivers").first() if "drivers" in forecast.columns else pl.lit(None),
    )


def replenishment_orders(
    forecast: pl.DataFrame, stock: pl.DataFrame, policy: ReplenishmentPolicy
) -> pl.DataFrame:
    """One row per store x item with the order quantity and the reason behind it.

    ``forecast``: store_id, item_id, horizon, p50, p90, data_as_of, model_version[, fallback].
    ``stock``: store_id, item_id, on_hand, on_order (the latest snapshot; a missing snapshot
    counts as zero stock and says so, rather than silently suppressing the order).
    """
    sums = _horizon_sums(forecast, policy)
    rows = sums.join(stock.select(*GRAIN, "on_hand", "on_order"), on=GRAIN, how="left")
    safety = (pl.col("spread") * policy.safety_multiplier).clip(lower_bound=0)
    on_hand = pl.col("on_hand").fill_null(0)
    on_order = pl.col("on_order").fill_null(0)
    need = pl.col("demand") + safety - on_hand - on_order
    cover = policy.lead_time_days + policy.review_days
    reason = pl.format(
        "{} forecast over {} days + {} safety (p90-p50, {} days lead time) - {} on hand - {} "
        "on order{}{}",
        pl.col("demand").round(1), pl.lit(cover), safety.round(1), pl.lit(policy.lead_time_days),
        on_hand, on_order,
        pl.when(pl.col("on_hand").is_null()).then(pl.lit("; no stock snapshot: assumed 0"))
        .otherwise(pl.lit("")),
        pl.when(pl.col("fallback") != "none")
        .then(pl.format("; forecast from the {} level (little history)", pl.col("fallback")))
        .otherwise(pl.lit("")),
    )  # fmt: skip
    return (
        rows.with_columns(
            safety_stock=safety.cast(pl.Float32),
            order_qty=need.ceil().clip(lower_bound=0).cast(pl.Int32),
            reason=reason,
        )
        .with_columns(on_hand=on_hand.cast(pl.Int32), on_order=on_order.cast(pl.Int32))
        .select(
            *GRAIN,
            "order_qty",
            "demand",
            "safety_stock",
            "on_hand",
            "on_order",
            "reason",
            "drivers",
            "fallback",
            "model_version",
            "data_as_of",
        )  # fmt: skip
        .sort(GRAIN)
    )


KEY = dg.AssetKey(["demand", "decisions", "replenishment"])
FORECAST_KEY = dg.AssetKey(["demand", "forecasts", "store_item_daily"])
INVENTORY_KEY = dg.AssetKey(["demand", "harmonized", "inventory"])


class ReplenishmentConfig(dg.Config):
    lead_time_days: int = 7
    review_days: int = 7
    safety_multiplier: float = 1.0


def latest_stock(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Each store-item's newest snapshot (DuckDB does the arg-max; empty without inventory)."""
    table = table_name(INVENTORY_KEY)
    if not table_exists(conn, table):
        return pl.DataFrame(schema={"store_id": pl.String, "item_id": pl.String,
                                    "on_hand": pl.Int32, "on_order": pl.Int32})  # fmt: skip
    return conn.execute(
        f"SELECT store_id, item_id, arg_max(on_hand, date) AS on_hand, "
        f"arg_max(on_order, date) AS on_order FROM {table} GROUP BY ALL"
    ).pl()


@dg.asset(
    key=KEY, group_name="demand_decisions", owners=["team:procurement"], code_version="1",
    deps=[FORECAST_KEY, INVENTORY_KEY], kinds={"polars", "duckdb"},
)  # fmt: skip
def replenishment(config: ReplenishmentConfig, warehouse: DuckDBResource) -> dg.MaterializeResult:
    """The order list procurement works from: one row per store x item, the quantity and why."""
    policy = ReplenishmentPolicy(config.lead_time_days, config.review_days,
                                 config.safety_multiplier)  # fmt: skip
    with warehouse.get_connection() as conn:
        forecast = read_table(conn, table_name(FORECAST_KEY))
        orders = replenishment_orders(forecast, latest_stock(conn), policy)
        replace_table(conn, table_name(KEY), orders)
    ordering = orders.filter(pl.col("order_qty") > 0)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(orders.height, orders.schema),
            "lines_with_an_order": ordering.height,
            "units_ordered": int(orders["order_qty"].sum()),
            "data_as_of": str(orders["data_as_of"].max()),
            "largest_orders": dg.MetadataValue.md(
                markdown_table(ordering.sort("order_qty", descending=True).head(10))
            ),
        }
    )
