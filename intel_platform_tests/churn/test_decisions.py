"""Outreach: the top K by risk x value, never a customer the model says stays, every row with
its driver, action and reason."""

from datetime import UTC, date, datetime

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from intel_platform.churn.decisions import COLUMNS, OutreachConfig, outreach, outreach_list
from intel_platform.core.warehouse import read_table, replace_table

SNAPSHOT = date(2025, 5, 5)
SCORES = pl.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d", "e"],
        "snapshot_date": [SNAPSHOT] * 5,
        "risk": pl.Series([0.9, 0.6, 0.7, 0.2, 0.55], dtype=pl.Float32),
        "risk_rank": pl.Series([1, 3, 2, 5, 4], dtype=pl.Int32),
        "driver_1": ["2 refund requests in 30 days", "no login for 21 days", None,
                     "on the basic plan", "2 failed payment retries in 30 days"],
        "driver_2": [None] * 5, "driver_3": [None] * 5,
        "action": ["support call", "product check-in", "account review", "account review",
                   "billing fix"],
        "model_version": ["3"] * 5,
        "data_as_of": [date(2025, 5, 4)] * 5,
        "scored_at": [datetime(2025, 5, 5, 3, tzinfo=UTC)] * 5,
    }
)  # fmt: skip
# a: MRR 10; b: MRR 100; c: no MRR, activity 50; d: MRR 1000 but stays; e: nothing known.
VALUES = pl.DataFrame(
    {
        "customer_id": ["a", "b", "c", "d", "e"],
        "mrr": pl.Series([10.0, 100.0, None, 1000.0, None], dtype=pl.Float32),
        "activity_amount_30d": pl.Series([None, None, 50.0, None, None], dtype=pl.Float32),
    }
)


def test_the_list_ranks_by_expected_loss_and_never_includes_a_customer_who_stays():
    calls = outreach_list(SCORES, VALUES, capacity_k=200, min_risk=0.5)
    assert calls.columns == list(COLUMNS)
    # b: 0.6 x 100 = 60; c: 0.7 x 50 = 35; a: 0.9 x 10 = 9; e: 0.55 x 1 (unknown value).
    assert calls["customer_id"].to_list() == ["b", "c", "a", "e"]
    assert calls["priority"].to_list() == [1, 2, 3, 4]
    assert calls["value_source"].to_list() == ["mrr", "activity_amount_30d", "mrr", "unknown (1)"]
    assert calls["expected_loss"].round(4).to_list() == [60.0, 35.0, 9.0, 0.55]
    assert "d" not in calls["customer_id"].to_list()  # the richest, but the model says stays
    assert calls["action"].to_list() == [
        "product check-in", "account review", "support call", "billing fix",
    ]  # fmt: skip
    assert calls["reason"][0] == "risk 60 % x mrr 100.0 = expected loss 60.0; no login for 21 days"
    assert calls["reason"][1].endswith("no single driver stands out")
    assert not calls["action"].str.contains("discount").any()


def test_the_list_is_capped_at_the_team_capacity():
    calls = outreach_list(SCORES, VALUES, capacity_k=2, min_risk=0.0)
    assert calls["customer_id"].to_list() == ["d", "b"]  # d counts once it is eligible
    assert outreach_list(SCORES, VALUES, capacity_k=5, min_risk=0.95).height == 0


def test_the_outreach_asset_writes_the_list_with_data_as_of(home):
    warehouse = DuckDBResource(database=str(home.warehouse))
    with warehouse.get_connection() as conn:
        replace_table(conn, "churn_scores.customer_risk", SCORES)
        replace_table(
            conn, "churn_features.customer_snapshot",
            pl.concat([VALUES.with_columns(snapshot_date=pl.lit(SNAPSHOT)),
                       VALUES.with_columns(snapshot_date=pl.lit(date(2025, 4, 28)), mrr=None)],
                      how="diagonal_relaxed"),
        )  # fmt: skip
    result = dg.materialize(
        [outreach], resources={"warehouse": warehouse},
        run_config={"ops": {"churn__decisions__outreach": {"config": {"capacity_k": 3,
                                                                      "min_lift": 0.85}}}},
    )  # fmt: skip
    assert result.success
    with warehouse.get_connection() as conn:
        calls = read_table(conn, "churn_decisions.outreach")
    assert calls["customer_id"].to_list() == ["b", "c", "a"]  # this snapshot's values only
    (event,) = result.asset_materializations_for_node("churn__decisions__outreach")
    metadata = {k: v.value for k, v in event.metadata.items()}
    assert metadata["dagster/row_count"] == 3 and metadata["capacity_k"] == 3
    assert metadata["customers_at_or_above_min_risk"] == 4  # 0.85 x mean risk 0.59 = 0.50
    assert metadata["data_as_of"] == "2025-05-04"
    assert OutreachConfig().capacity_k == 200
