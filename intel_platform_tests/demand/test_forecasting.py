from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from intel_platform.demand.evaluation import backtest
from intel_platform.demand.features import FEATURE_COLUMNS, GRAIN, build_features
from intel_platform.demand.forecasting import (
    TAIL_DAYS,
    backtest_origins,
    recursive_forecast,
    seasonal_naive,
    split_at_origin,
)
from intel_platform_tests.fixtures import DAILY_SCHEMA

D0 = date(2023, 1, 2)  # a Monday
PRODUCTS = pl.DataFrame(
    {"item_id": ["I0", "I1"], "category": ["Grocery", "Hobbies"], "department": ["G1", "H1"]}
)
POISON = 1_000_000


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def make_panel(n_days: int = 480, seed: int = 0) -> pl.DataFrame:
    """Seeded daily demand, sorted by grain: one series longer than the tail window, one that
    starts late, ~4 % missing days, weekly pattern, a closed Christmas."""
    rng = np.random.default_rng(seed)
    rows = []
    for store, item, start in (("S0", "I0", 0), ("S0", "I1", 300), ("S1", "I0", 0)):
        for d in range(start, n_days):
            when = day(d)
            if rng.random() < 0.04:
                continue
            is_open = (when.month, when.day) != (12, 25)
            units = int(rng.poisson(2 + when.weekday() % 3)) if is_open else 0
            rows.append(
                (store, item, when, units, 1.5 + d // 100 * 0.25, rng.random() < 0.1, is_open)
            )
    return pl.DataFrame(rows, schema=DAILY_SCHEMA, orient="row")


def test_backtest_origins_step_back_one_horizon_and_end_on_the_last_date():
    assert backtest_origins(date(2024, 3, 31), windows=3, horizon=28) == [
        date(2024, 1, 7),
        date(2024, 2, 4),
        date(2024, 3, 3),
    ]


def test_split_at_origin_keeps_the_origin_in_history_and_horizon_days_in_actuals():
    daily = pl.DataFrame({"date": [day(d) for d in range(10)], "units": list(range(10))})
    history, actuals = split_at_origin(daily, day(4), horizon=3)
    assert history["date"].max() == day(4)
    assert actuals["date"].to_list() == [day(5), day(6), day(7)]


def test_seasonal_naive_repeats_the_last_observed_week_by_weekday():
    units = [10, 11, 12, 13, 14, 15, 16, 20, 21, None, 23, 24, 25, 26]  # day 9 is missing
    history = pl.DataFrame(
        {
            "store_id": ["S0"] * 14,
            "item_id": ["I0"] * 14,
            "date": [day(d) for d in range(14)],
            "units": units,
        }
    ).drop_nulls("units")
    out = seasonal_naive(history, horizon=9)
    expected = pl.DataFrame(
        {
            "store_id": ["S0"] * 9,
            "item_id": ["I0"] * 9,
            "date": [day(d) for d in range(14, 23)],
            "horizon": list(range(1, 10)),
            # Wednesday (day 9) was not observed last week: the week before (day 2) stands in.
            "p50": [20.0, 21.0, 12.0, 23.0, 24.0, 25.0, 26.0, 20.0, 21.0],
        },
        schema_overrides={"horizon": pl.Int16},
    )
    assert_frame_equal(out, expected)


def test_recursive_forecast_sees_the_same_features_as_training_when_actuals_are_fed_back():
    """Train/score parity: full-history features of each forecast day equal the features the
    recursive path computes on a tail window with actuals fed back as predictions."""
    daily = make_panel()
    origin = day(479 - 28)
    assert (origin - daily["date"].min()).days > TAIL_DAYS  # the tail window really truncates
    history, actuals = split_at_origin(daily, origin, 28)
    truth = {(r[0], r[1], r[2]): r[3] for r in actuals.iter_rows()}
    seen = []

    def replay_actuals(step: pl.DataFrame) -> np.ndarray:
        seen.append(step)
        return np.array([truth[k] for k in step.select(GRAIN).iter_rows()], dtype=np.float64)

    recursive_forecast(history, actuals.drop("units"), PRODUCTS, replay_actuals, 28)
    served = pl.concat(seen).sort(GRAIN)
    trained = build_features(daily.lazy(), PRODUCTS).collect().join(served.select(GRAIN), on=GRAIN)
    assert served.height == actuals.height
    assert_frame_equal(
        served.select(GRAIN, *FEATURE_COLUMNS),
        trained.select(GRAIN, *FEATURE_COLUMNS),
        check_exact=True,  # identical, not close: window sums are exact
    )


def test_recursive_forecast_feeds_p50_back_and_zeroes_closed_days():
    daily = make_panel(n_days=120)
    origin = day(100)
    history, actuals = split_at_origin(daily, origin, 14)
    future = actuals.drop("units").with_columns(
        is_open=pl.when(pl.col("date") == day(105)).then(False).otherwise(pl.col("is_open"))
    )
    seen = []

    def predict(step: pl.DataFrame) -> dict[str, np.ndarray]:
        seen.append(step)
        n = step.height
        # Crossed and negative quantiles: the forecaster must sort and clip them.
        return {"p90": np.full(n, 1.0), "p50": np.full(n, 5.0), "p10": np.full(n, -2.0)}

    out = recursive_forecast(history, future, PRODUCTS, predict, 14)
    assert out.columns == [*GRAIN, "horizon", "p10", "p50", "p90"]
    assert (out["horizon"] == (out["date"] - origin).dt.total_days()).all()
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()
    assert out["p10"].min() >= 0
    closed = out.filter(pl.col("date") == day(105))
    assert closed.height > 0 and (closed.select("p10", "p50", "p90").sum_horizontal() == 0).all()
    # Sorted row-wise, the levels are (0, 1, 5): p50 is 1.0.
    assert out.filter(pl.col("date") != day(105))["p50"].unique().to_list() == [1.0]
    # Day origin + 8 sees day origin + 1's p50 as its lag 7: the p50 path is fed back.
    step_8 = pl.concat(seen).filter(pl.col("date") == day(108))
    assert step_8["units_lag_7"].to_list() == [1.0] * step_8.height
    # The closed day was fed back as 0, not as the model's p50.
    step_12 = pl.concat(seen).filter(pl.col("date") == day(112))
    assert step_12["units_lag_7"].to_list() == [0.0] * step_12.height


def test_recursive_forecast_rejects_a_predict_without_p50():
    daily = make_panel(n_days=60)
    history, actuals = split_at_origin(daily, day(50), 3)
    with pytest.raises(ValueError, match="p50"):
        recursive_forecast(history, actuals, PRODUCTS, lambda s: {"mean": np.zeros(s.height)}, 3)


def test_backtest_never_sees_actuals_after_its_origin():
    """Every unit after the origin is poisoned: any leak into fitting or into a feature would
    carry a value >= POISON to the model."""
    daily = make_panel()
    origin = day(420)
    poisoned = daily.with_columns(
        pl.col("store_id", "item_id").cast(pl.Categorical),  # as daily_demand delivers them
        units=pl.when(pl.col("date") > origin).then(POISON).otherwise(pl.col("units")),
    )
    # The check can fail: on the full poisoned table the poison does reach the features.
    leaked = build_features(poisoned.lazy(), PRODUCTS).collect()
    assert (
        leaked.filter(pl.col("date") == origin + timedelta(days=8))["units_lag_7"].max() == POISON
    )

    def fit(history: pl.DataFrame):
        assert history["date"].max() <= origin
        assert history["units"].max() < POISON

        def predict(step: pl.DataFrame) -> np.ndarray:
            assert step["date"].min() > origin
            assert step["units"].null_count() == step.height  # the target is not handed over
            for column in FEATURE_COLUMNS:  # honest values here are all far below 10_000
                assert step[column].fill_null(0).max() < POISON / 100, column
            return np.ones(step.height)

        return predict

    def probe(history, future, products, horizon):
        return recursive_forecast(history, future, products, fit(history), horizon)

    window = poisoned.filter(pl.col("date") <= origin + timedelta(days=28))  # one window
    result = backtest(window, PRODUCTS, {"probe": probe}, windows=1, horizon=28)
    assert result.origins == [origin]
    scored = result.forecasts
    assert (scored.filter(pl.col("model") == "probe")["p50"] <= 1.0).all()
    assert scored["actual"].unique().to_list() == [POISON]  # scored against the true actuals
    assert scored.filter(pl.col("model") == "seasonal_naive")["p50"].max() < POISON
