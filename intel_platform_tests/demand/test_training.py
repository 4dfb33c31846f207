from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from intel_platform.demand.evaluation import backtest
from intel_platform.demand.features import FEATURE_COLUMNS, GRAIN, build_features
from intel_platform.demand.forecasting import backtest_origins, recursive_forecast
from intel_platform.demand.prophet_models import (
    disaggregate,
    fit_prophet_aggregates,
    holiday_frame,
    prophet_forecaster,
)
from intel_platform.demand.training import (
    LightGBMParams,
    cold_start_fallback,
    contributions,
    feature_importance,
    lightgbm_forecaster,
    seasonal_naive_forecaster,
    train_lightgbm,
    with_cold_start,
)
from intel_platform_tests.fixtures import DAILY_SCHEMA as SCHEMA

D0 = date(2023, 1, 2)  # a Monday
N_DAYS = 200
WEEKLY = (0.8, 0.85, 0.9, 1.0, 1.2, 1.6, 1.3)  # Mon..Sun
PROMO_LIFT = 1.8
PRODUCTS = pl.DataFrame(
    {
        "item_id": [f"I{i}" for i in range(6)],
        "category": ["Grocery", "Grocery", "Grocery", "Household", "Household", "Garden"],
        "department": ["G1", "G1", "G2", "H1", "H1", "Y1"],
    }
)
BASE = (12.0, 6.0, 3.0, 8.0, 5.0, 7.0)
LAUNCH = {"I4": 180, "I5": 185}  # a new item in an old category; a whole new category
# One thread: a heavy job may share the machine, and OpenMP threads then mostly wait.
FAST = LightGBMParams(num_boost_round=150, num_threads=1)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def make_panel(seed: int = 7) -> pl.DataFrame:
    """2 stores x 6 items x 200 days: weekly pattern, promotions that lift demand 80 % and cut
    the price 20 %, item I4 launching on day 180 and category Garden (I5) on day 185."""
    rng = np.random.default_rng(seed)
    rows = []
    for store, scale in (("S0", 1.0), ("S1", 1.6)):
        for i, item in enumerate(PRODUCTS["item_id"]):
            for d in range(LAUNCH.get(item, 0), N_DAYS):
                promo = bool(rng.random() < 0.15)
                mean = BASE[i] * scale * WEEKLY[day(d).weekday()] * (PROMO_LIFT if promo else 1)
                price = (2.0 + i / 2) * (0.8 if promo else 1.0)
                rows.append((store, item, day(d), int(rng.poisson(mean)), price, promo, True))
    return pl.DataFrame(rows, schema=SCHEMA, orient="row").sort(GRAIN)


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return make_panel()


@pytest.fixture(scope="module")
def model(panel):
    return train_lightgbm(build_features(panel.lazy(), PRODUCTS).collect(), params=FAST)


@pytest.fixture(scope="module")
def lightgbm_backtest(panel):
    return backtest(panel, PRODUCTS, {"lightgbm": lightgbm_forecaster(FAST)}, windows=2, horizon=14)


def constant_forecaster(history, future, products, horizon):
    """p10/p50/p90 = 9/10/11 on every future row."""
    return future.select(GRAIN).with_columns(p10=9.0, p50=10.0, p90=11.0)


def test_backtest_metrics_are_exact_on_a_hand_checkable_series():
    units = [5] * 14 + [8, 12, 10, 20]  # 14 history days, then two 2-day windows
    daily = pl.DataFrame(
        {
            "store_id": "S0",
            "item_id": "I0",
            "date": [day(d) for d in range(18)],
            "units": units,
            "price_per_unit": 1.0,
            "promo": False,
            "is_open": True,
        },
        schema=SCHEMA,
    )
    result = backtest(daily, PRODUCTS, {"constant": constant_forecaster}, windows=2, horizon=2)
    assert result.origins == [day(13), day(15)]
    metrics = result.metrics.filter(pl.col("scope") != "category")
    expected = pl.DataFrame(
        {
            "scope": ["overall", "overall", "window", "window", "window", "window"],
            "model": ["constant", "seasonal_naive"] + ["constant"] * 2 + ["seasonal_naive"] * 2,
            "origin": [None, None, day(13), day(15), day(13), day(15)],
            "n": [4, 4, 2, 2, 2, 2],
            "missing": [0] * 6,
            # |8-10| + |12-10| + |10-10| + |20-10| = 14 over 50 units; naive says 5 every day.
            "wape": [14 / 50, 30 / 50, 4 / 20, 10 / 30, 10 / 20, 20 / 30],
            "bias": [-10 / 50, -30 / 50, 0 / 20, -10 / 30, -10 / 20, -20 / 30],
            "rmse": [27**0.5, 77**0.5, 2.0, 50**0.5, 29**0.5, 125**0.5],
            "mape": [(2 / 8 + 2 / 12 + 0 + 10 / 20) / 4, (3 / 8 + 7 / 12 + 5 / 10 + 15 / 20) / 4]
            + [
                (2 / 8 + 2 / 12) / 2,
                (0 + 10 / 20) / 2,
                (3 / 8 + 7 / 12) / 2,
                (5 / 10 + 15 / 20) / 2,
            ],
            # Only 10 lies in 9..11; the naive has no band.
            "coverage": [1 / 4, None, 0.0, 1 / 2, None, None],
        },
        schema_overrides={"n": pl.Int64, "missing": pl.UInt32, "coverage": pl.Float64},
    )
    assert_frame_equal(metrics.select(expected.columns), expected, check_dtypes=False)


def test_backtest_gives_each_forecaster_only_history_up_to_its_origin(panel):
    seen = []

    def recording(history, future, products, horizon):
        seen.append((history["date"].max(), future["date"].min(), "units" in future.columns))
        return constant_forecaster(history, future, products, horizon)

    result = backtest(panel, PRODUCTS, {"recording": recording}, windows=3, horizon=7)
    assert result.origins == backtest_origins(day(N_DAYS - 1), windows=3, horizon=7)
    assert [last for last, _, _ in seen] == result.origins  # never past the origin
    assert all(first > origin for (_, first, _), origin in zip(seen, result.origins, strict=True))
    assert not any(has_units for _, _, has_units in seen)
    # Every model is scored on the same origins.
    windows = result.metrics.filter(pl.col("scope") == "window")
    assert (
        windows.group_by("model").agg(pl.col("origin").sort())["origin"].to_list()
        == [result.origins] * 2
    )


def test_lightgbm_beats_seasonal_naive_on_wape(lightgbm_backtest):
    wape = lightgbm_backtest.overall("wape")
    overall = lightgbm_backtest.metrics.filter(pl.col("scope") == "overall")
    assert overall["n"].n_unique() == 1 and overall["n"][0] > 200  # the same rows for both
    assert wape["lightgbm"] < 0.9 * wape["seasonal_naive"], f"WAPE {wape}"


def test_lightgbm_quantiles_are_ordered_and_non_negative(lightgbm_backtest):
    rows = lightgbm_backtest.forecasts.filter(pl.col("model") == "lightgbm")
    assert rows.select("p10", "p50", "p90").null_count().sum_horizontal().item() == 0
    assert (rows["p10"] >= 0).all()
    assert (rows["p10"] <= rows["p50"]).all() and (rows["p50"] <= rows["p90"]).all()
    assert (rows["p10"] < rows["p90"]).mean() > 0.9  # a band, not a line


def test_train_lightgbm_uses_known_targets_of_the_recent_window_only(panel):
    features = build_features(panel.lazy(), PRODUCTS).collect()
    features = features.with_columns(  # a missing day is not a training row
        units=pl.when(pl.col("date") == day(195)).then(None).otherwise(pl.col("units"))
    )
    fitted = train_lightgbm(features, params=LightGBMParams(window_days=10, num_boost_round=5))
    expected = panel.filter((pl.col("date") > day(189)) & (pl.col("date") != day(195))).height
    assert (fitted.rows_used, fitted.train_start, fitted.train_end) == (
        expected,
        day(190),
        day(199),
    )


def test_contributions_name_three_drivers_per_row(model, panel):
    frame = build_features(panel.lazy(), PRODUCTS).collect().filter(pl.col("date") == day(199))
    out = contributions(model, frame)
    assert out.select(GRAIN).equals(frame.select(GRAIN))
    for k in (1, 2, 3):
        assert out[f"driver_{k}"].is_in(FEATURE_COLUMNS).all()
        assert out[f"contribution_{k}"].is_not_null().all()
    assert (out["contribution_1"].abs() >= out["contribution_2"].abs()).all()
    assert (out["contribution_2"].abs() >= out["contribution_3"].abs()).all()
    drivers = out.select(pl.concat_list("driver_1", "driver_2", "driver_3").list.n_unique())
    assert (drivers.to_series() == 3).all()
    gains = feature_importance(model)
    assert set(gains) == set(FEATURE_COLUMNS)
    assert list(gains.values()) == sorted(gains.values(), reverse=True)
    assert gains["promo"] > 0


def test_cold_start_fills_new_items_and_categories_from_the_level_above(model, panel):
    future = panel.filter(pl.col("date") > day(185)).with_columns(
        pl.col("date") + timedelta(days=14)
    )  # covariates for days 200..213
    forecast = recursive_forecast(panel, future, PRODUCTS, model.predict, 14)
    out = cold_start_fallback(forecast, panel, PRODUCTS, min_history_days=28)
    assert out.height == forecast.height == 12 * 14
    by_item = out.group_by("item_id").agg(pl.col("fallback").unique()).sort("item_id")
    assert by_item["fallback"].to_list() == [["none"]] * 4 + [["category"], ["store"]]
    assert out.select("p10", "p50", "p90").null_count().sum_horizontal().item() == 0
    assert (out.filter(pl.col("fallback") != "none")["p50"] > 0).all()
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()
    recent = panel.filter(pl.col("date") > day(171), pl.col("store_id") == "S0")
    s0 = out.filter(pl.col("store_id") == "S0")
    # The new Household item gets the mean of the one established Household item (I3) ...
    i3_mean = recent.filter(pl.col("item_id") == "I3")["units"].mean()
    assert s0.filter(pl.col("item_id") == "I4")["p50"].unique().to_list() == [i3_mean]
    # ... the new Garden category the store's mean per established item-day (I0..I3).
    store_mean = recent.filter(pl.col("item_id").is_in(["I0", "I1", "I2", "I3"]))["units"].mean()
    assert s0.filter(pl.col("item_id") == "I5")["p50"].unique().to_list() == [store_mean]
    # Established series keep the model's forecast.
    kept = out.filter(pl.col("fallback") == "none").drop("fallback")
    assert_frame_equal(kept, forecast.join(kept.select(GRAIN), on=GRAIN).sort(GRAIN))


def test_with_cold_start_completes_a_forecaster_for_launches(panel):
    future = panel.filter(pl.col("date") > day(192)).with_columns(
        pl.col("date") + timedelta(days=7)
    )
    out = with_cold_start(seasonal_naive_forecaster())(panel, future, PRODUCTS, 7)
    assert out["p50"].null_count() == 0 and (out["p50"] > 0).all()
    launched = out.filter(pl.col("item_id").is_in(["I4", "I5"]))
    assert launched["fallback"].unique().sort().to_list() == ["category", "store"]


def test_disaggregate_splits_by_each_items_recent_share():
    aggregate = pl.DataFrame(
        {"store_id": ["S0", "S1"], "date": [day(10)] * 2, "p10": [4.0, 2.0], "p50": [8.0, 6.0]}
    ).with_columns(p90=pl.col("p50") * 2)
    history = pl.DataFrame(
        {
            "store_id": ["S0", "S0", "S0", "S1", "S1"],
            "item_id": ["I0", "I1", "I0", "I0", "I1"],
            # Day 0 falls outside a 5-day lookback; S1 sold nothing: equal shares.
            "date": [day(0), day(9), day(9), day(9), day(9)],
            "units": [100, 1, 3, 0, 0],
        }
    )
    out = disaggregate(aggregate, history, ["store_id"], lookback_days=5)
    expected = pl.DataFrame(
        {
            "store_id": ["S0", "S0", "S1", "S1"],
            "item_id": ["I0", "I1", "I0", "I1"],
            "date": [day(10)] * 4,
            "p10": [3.0, 1.0, 1.0, 1.0],
            "p50": [6.0, 2.0, 3.0, 3.0],
            "p90": [12.0, 4.0, 6.0, 6.0],
        }
    )
    assert_frame_equal(out, expected)


def test_prophet_fits_two_store_series_in_parallel(panel):
    last = day(N_DAYS - 1)
    future = (  # every item on promotion on day 3 of the horizon, none on day 10 (same weekday)
        panel.filter(pl.col("date") > last - timedelta(days=14))
        .with_columns(pl.col("date") + timedelta(days=14))
        .with_columns(promo=pl.col("date") == last + timedelta(days=3))
    )
    out = fit_prophet_aggregates(
        panel.with_columns(pl.col("store_id").cast(pl.Categorical)),  # as daily_demand gives it
        level=["store_id"],
        horizon=14,
        holidays=holiday_frame(day(0), last + timedelta(days=14)),
        max_workers=2,
        timeout_s=60,
        future=future,
    )
    assert out.columns == ["store_id", "date", "p10", "p50", "p90", "method", "reason"]
    assert out["method"].unique().to_list() == ["prophet"], out["reason"].unique().to_list()
    for store in ("S0", "S1"):
        rows = out.filter(pl.col("store_id") == store)
        assert rows["date"].to_list() == [last + timedelta(days=h) for h in range(1, 15)]
        assert rows["p50"][2] > 1.3 * rows["p50"][9], "the promotion share regressor lifts p50"
    assert out.select("p10", "p50", "p90").null_count().sum_horizontal().item() == 0
    assert (out["p10"] >= 0).all()
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()
    # S1 sells 1.6x S0: the aggregate forecasts keep that order.
    totals = out.group_by("store_id").agg(pl.col("p50").sum()).sort("store_id")["p50"]
    assert totals[1] > 1.3 * totals[0]


def test_a_failed_prophet_fit_falls_back_to_seasonal_naive(panel):
    last = day(N_DAYS - 1)
    # S1 has one observed day: Prophet refuses to fit fewer than two.
    daily = panel.filter((pl.col("store_id") == "S0") | (pl.col("date") == last))
    out = fit_prophet_aggregates(
        daily, level=["store_id"], horizon=7, holidays=None, max_workers=2, timeout_s=60
    )
    methods = out.group_by("store_id").agg(pl.col("method", "reason").first()).sort("store_id")
    assert methods["method"].to_list() == ["prophet", "seasonal_naive"]
    assert "ValueError" in methods["reason"][1]
    fallback = out.filter(pl.col("store_id") == "S1")
    s1_total = daily.filter(pl.col("store_id") == "S1")["units"].sum()
    assert fallback["p50"].to_list() == [float(s1_total)] * 7  # the only day seen, every day
    assert fallback.select("p10", "p90").null_count().row(0) == (7, 7)  # no band to claim


def _long_history(days: int = 4000) -> pl.DataFrame:
    """Two stores, ~11 years daily: a fit that cannot finish inside a millisecond even when a
    loaded machine delays Stan's timer thread (a 200-day fit sometimes could)."""
    rng = np.random.default_rng(3)
    dates = [date(2010, 1, 1) + timedelta(days=n) for n in range(days)]
    return pl.DataFrame(
        {
            "store_id": np.repeat(["S1", "S2"], days),
            "item_id": "I1",
            "date": dates * 2,
            "units": rng.poisson(20, 2 * days),
            "promo": rng.random(2 * days) < 0.1,
        }
    )


def test_a_prophet_fit_past_its_time_limit_falls_back():
    out = fit_prophet_aggregates(
        _long_history(), level=["store_id"], horizon=7, holidays=None, max_workers=2,
        timeout_s=0.001,
    )  # fmt: skip
    assert out["method"].unique().to_list() == ["seasonal_naive"]
    assert out["reason"].str.starts_with("TimeoutError").all()
    assert (out["p50"] > 0).all()


def test_prophet_forecaster_is_scored_at_the_store_item_grain(panel):
    forecaster = prophet_forecaster(["store_id", "category"], max_workers=2, timeout_s=60)
    result = backtest(panel, PRODUCTS, {"prophet": forecaster}, windows=1, horizon=7)
    overall = result.metrics.filter(pl.col("scope") == "overall").sort("model")
    assert overall["model"].to_list() == ["prophet", "seasonal_naive"]
    assert overall["missing"].to_list() == [0, 0]  # every store x item x day forecast
    assert overall["wape"].is_not_null().all()
