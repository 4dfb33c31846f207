"""Decision layer: the retention team's weekly call list. Pure policy on top, a thin asset below.

expected loss = risk x value, value = MRR, else the 30-day activity amount, else 1 (unknown
value ranks by risk alone, and says so). The list is the top ``capacity_k`` by expected loss
among customers whose risk is at least ``min_lift`` times the average risk of everyone scored:
some churn is good churn, and a customer the model says stays (no elevated risk) is never on
the list, so never offered anything. A lift rather than a probability: with about 2 % churning
a month, a calibrated 0.5 is rare and a fixed 0.5 would leave the team's capacity idle. Every
row carries the driver that suggests the action, the action (never a discount), and a reason.
"""

from typing import Any

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from intel_platform.churn.models import SNAPSHOT_KEY
from intel_platform.churn.scores import KEY as SCORES_KEY
from intel_platform.core.metadata import markdown_table, table_metadata
from intel_platform.core.warehouse import read_table, replace_table, table_name

KEY = dg.AssetKey(["churn", "decisions", "outreach"])
COLUMNS = ("priority", "customer_id", "expected_loss", "risk", "value", "value_source", "driver",
           "action", "reason", "model_version", "data_as_of", "snapshot_date")  # fmt: skip


def outreach_list(
    scores: pl.DataFrame, values: pl.DataFrame, *, capacity_k: int, min_risk: float
) -> pl.DataFrame:
    """The call list, ``priority`` 1 first (ties by customer_id), at most ``capacity_k`` rows.

    ``scores``: customer_risk rows (customer_id, risk, driver_1, action, model_version,
    data_as_of, snapshot_date). ``values``: customer_id, mrr, activity_amount_30d of the same
    snapshot (a customer missing there has unknown value, 1)."""
    value = pl.coalesce(pl.col("mrr"), pl.col("activity_amount_30d"), pl.lit(1.0))
    source = (
        pl.when(pl.col("mrr").is_not_null()).then(pl.lit("mrr"))
        .when(pl.col("activity_amount_30d").is_not_null()).then(pl.lit("activity_amount_30d"))
        .otherwise(pl.lit("unknown (1)"))
    )  # fmt: skip
    reason = pl.format(
        "risk {} % x {} {} = expected loss {}; {}",
        (pl.col("risk") * 100).round(0).cast(pl.Int32), pl.col("value_source"),
        pl.col("value").round(2),
        pl.col("expected_loss").round(2),
        pl.col("driver").fill_null("no single driver stands out"),
    )  # fmt: skip
    return (
        scores.filter(pl.col("risk") >= min_risk)
        .join(values.select("customer_id", "mrr", "activity_amount_30d"), on="customer_id",
              how="left")
        .with_columns(value=value.cast(pl.Float64), value_source=source,
                      driver=pl.col("driver_1"))
        .with_columns(expected_loss=pl.col("risk").cast(pl.Float64) * pl.col("value"))
        .sort(["expected_loss", "customer_id"], descending=[True, False])
        .head(capacity_k)
        .with_columns(priority=pl.int_range(1, pl.len() + 1, dtype=pl.Int32), reason=reason)
        .select(COLUMNS)
    )  # fmt: skip


class OutreachConfig(dg.Config):
    """``capacity_k``: calls the team makes per list; ``min_lift``: a customer below this many
    times the average risk is one the model says stays, so no call."""

    capacity_k: int = 200
    min_lift: float = 2.0


def _values(warehouse: DuckDBResource, snapshot_date: Any) -> pl.DataFrame:
    with warehouse.get_connection() as conn:
        return conn.execute(
            "SELECT customer_id, mrr, activity_amount_30d FROM "
            f"{table_name(SNAPSHOT_KEY)} WHERE snapshot_date = ?",
            [snapshot_date],
        ).pl()


@dg.asset(
    key=KEY, group_name="churn_decisions", owners=["team:retention"], code_version="1",
    deps=[SCORES_KEY, SNAPSHOT_KEY], kinds={"polars", "duckdb"},
)  # fmt: skip
def outreach(config: OutreachConfig, warehouse: DuckDBResource) -> dg.MaterializeResult:
    """The list the retention team works this week: who to call, why, and what to do."""
    with warehouse.get_connection() as conn:
        scores = read_table(conn, table_name(SCORES_KEY))
    values = _values(warehouse, scores["snapshot_date"].max())
    min_risk = config.min_lift * float(scores["risk"].mean() or 0.0)
    calls = outreach_list(scores, values, capacity_k=config.capacity_k, min_risk=min_risk)
    with warehouse.get_connection() as conn:
        replace_table(conn, table_name(KEY), calls)
    eligible = int((scores["risk"] >= min_risk).sum())
    return dg.MaterializeResult(
        metadata={
            **table_metadata(calls.height, calls.schema),
            "capacity_k": config.capacity_k,
            "min_lift": config.min_lift,
            "min_risk": round(min_risk, 4),
            "customers_scored": scores.height,
            "customers_at_or_above_min_risk": eligible,
            "expected_loss_covered": float(calls["expected_loss"].sum()),
            "data_as_of": str(scores["data_as_of"].max()),
            "actions": dict(calls.group_by("action").len().sort("action").iter_rows()),
            "list": dg.MetadataValue.md(markdown_table(calls.head(20))),
        }  # fmt: skip
    )
