"""Replenishment policy and the forecast's known-in-advance inputs, on hand-checkable frames."""

from datetime import date, timedelta

import polars as pl

from intel_platform.demand.decisions import ReplenishmentPolicy, replenishment_orders
from intel_platform.demand.forecasts import future_covariates

AS_OF = date(2024, 3, 10)  # a Sunday


def _forecast(store: str, p50: float, p90: float, days: int = 4) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "store_id": store, "item_id": "I1", "horizon": list(range(1, days + 1)),
            "p50": [p50] * days, "p90": [p90] * days, "fallback": "none",
            "drivers": "units_mean_28 0.5, promo 0.1, month 0.0", "model_version": "3",
            "data_as_of": AS_OF,
        }
    )  # fmt: skip


def test_order_covers_lead_time_and_review_plus_spread_minus_stock():
    policy = ReplenishmentPolicy(lead_time_days=2, review_days=1, safety_multiplier=1.0)
    forecast = pl.concat([_forecast("S1", 10.0, 14.0), _forecast("S2", 1.0, 1.0)])
    stock = pl.DataFrame(
        {"store_id": ["S1", "S2"], "item_id": ["I1", "I1"], "on_hand": [5, 50],
         "on_order": [3, 0]}
    )  # fmt: skip
    orders = replenishment_orders(forecast, stock, policy)
    # S1: 3 days x 10 demand + 2 days x 4 spread - 5 on hand - 3 on order = 30
    assert orders.select("store_id", "order_qty").rows() == [("S1", 30), ("S2", 0)]
    assert orders["safety_stock"].to_list() == [8.0, 0.0]
    assert orders["reason"][0].startswith("30.0 forecast over 3 days + 8.0 safety")
    assert orders["drivers"][0] == "units_mean_28 0.5, promo 0.1, month 0.0"
    assert orders["data_as_of"].to_list() == [AS_OF, AS_OF]


def test_missing_stock_snapshot_is_assumed_zero_and_said():
    policy = ReplenishmentPolicy(lead_time_days=1, review_days=1)
    empty = pl.DataFrame(schema={"store_id": pl.String, "item_id": pl.String,
                                 "on_hand": pl.Int32, "on_order": pl.Int32})  # fmt: skip
    orders = replenishment_orders(_forecast("S1", 2.0, 3.0), empty, policy)
    assert orders["order_qty"].to_list() == [5]  # 2 x 2 demand + 1 spread
    assert "no stock snapshot: assumed 0" in orders["reason"][0]


def test_future_keeps_last_price_no_promo_and_the_weekly_opening_pattern():
    days = [AS_OF - timedelta(days=n) for n in range(13, -1, -1)]  # two weeks to Sunday
    history = pl.DataFrame(
        {
            "store_id": "S1", "item_id": "I1", "date": days, "units": [1] * 14,
            "price_per_unit": [2.0] * 13 + [2.5],
            "promo": [True] * 14,
            "is_open": [d.weekday() != 6 for d in days],  # closed on Sundays
        }
    )  # fmt: skip
    future = future_covariates(history, horizon=7, active_days=28)
    assert future["date"].to_list() == [AS_OF + timedelta(days=n) for n in range(1, 8)]
    assert future["price_per_unit"].unique().to_list() == [2.5]
    assert future["promo"].unique().to_list() == [False]
    closed = future.filter(~pl.col("is_open"))["date"].to_list()
    assert closed == [AS_OF + timedelta(days=7)]  # the next Sunday
