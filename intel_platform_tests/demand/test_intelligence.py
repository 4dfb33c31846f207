"""Harmonized sales -> features -> backtest -> LightGBM in MLflow -> forecast -> replenishment,
on one small generated history where the latest-launched items form a brand-new category."""

from datetime import date, timedelta

import dagster as dg
import pandas as pd
import polars as pl
import pytest

from intel_platform.cli import main
from intel_platform.core.checks import contract_outcome
from intel_platform.core.gate import is_refit
from intel_platform.core.home import HOME_ENV_VAR, ProjectHome
from intel_platform.core.registry import champion, load_champion, mlflow_target
from intel_platform.core.runs import check_results, failed_steps, materialize_days
from intel_platform.demand import landing
from intel_platform.demand.contracts import ForecastModel
from intel_platform.demand.definitions import defs as demand_defs
from intel_platform.demand.generate import generate_demand
from intel_platform_tests.fixtures import pos_files, query, rewrite_csv

START, DAYS, HORIZON = date(2024, 1, 1), 480, 14
LIGHTGBM_OP = "demand__models__lightgbm"
LAST = START + timedelta(days=DAYS - 1)
SMALL_MODELS = {
    "ops": {
        "demand__models__backtest": {"config": {
            "window_days": 240, "num_boost_round": 120, "backtest_windows": 2,
            "horizon": HORIZON, "prophet_workers": 1}},
        "demand__models__lightgbm": {"config": {
            "window_days": 240, "num_boost_round": 120, "backtest_windows": 2,
            "horizon": HORIZON, "retrain_reason": "new_data"}},
        "demand__models__prophet": {"config": {
            "window_days": 240, "backtest_windows": 2, "horizon": HORIZON}},
        "demand__forecasts__store_item_daily": {"config": {"horizon": HORIZON}},
    }
}  # fmt: skip


def _new_category(home: ProjectHome, launch: date) -> list[str]:
    """Two items become a category nobody has seen ("Toys") launching on ``launch``: catalog
    updated, their earlier POS rows removed, a mapping added for the new spelling."""
    toys = ["I00001", "I00002"]
    is_toy = pl.col("item_id").is_in(toys)
    rewrite_csv(
        landing.products_file(home),
        lambda f: f.with_columns(
            category=pl.when(is_toy).then(pl.lit("toys")).otherwise("category"),
            launch_date=pl.when(is_toy).then(pl.lit(launch.isoformat())).otherwise("launch_date"),
        ),
    )  # fmt: skip
    day = START
    while day < launch:
        for path in pos_files(home, day):
            rewrite_csv(path, lambda f: f.filter(~is_toy))
        day += timedelta(days=1)
    (home.mappings / "category_aliases.csv").write_text("alias,category\ntoys,Toys\n")
    return toys


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    root = tmp_path_factory.mktemp("intelligence")
    instance = dg.DagsterInstance.ephemeral()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV_VAR, str(root / "home"))
        home = ProjectHome.resolve().ensure()
        generate_demand(home, stores=3, items=40, days=DAYS, start=START, seed=5)
        toys = _new_category(home, launch=LAST - timedelta(days=9))
        result = materialize_days(demand_defs(), instance, START, LAST, run_config=SMALL_MODELS)
        yield home, result, toys


def test_the_whole_graph_materializes_and_every_check_passes(pipeline):
    _, result, _ = pipeline
    assert failed_steps(result) == {}
    assert [c.check_name for c in check_results(result) if not c.passed] == []


def test_lightgbm_beats_seasonal_naive_and_becomes_champion(pipeline):
    home, _, _ = pipeline
    overall = query(home, "SELECT model, wape FROM demand_models.backtest WHERE scope = 'overall'")
    wape = dict(zip(overall["model"], overall["wape"], strict=True))
    assert wape["lightgbm"] < wape["seasonal_naive"], wape
    serving = champion(mlflow_target("demand", home), "demand_lightgbm")
    assert serving is not None and serving.tags["gate.promoted"] == "true"
    assert serving.tags["retrain_reason"] == "new_data"
    assert serving.tags["data_version.features"]
    assert int(serving.params["rows_used"]) > 0
    assert serving.metrics["backtest_wape"] == pytest.approx(wape["lightgbm"])


def test_forecast_covers_every_active_series_with_ordered_intervals(pipeline):
    home, _, _ = pipeline
    forecast = query(home, "SELECT * FROM demand_forecasts.store_item_daily")
    assert contract_outcome(ForecastModel, forecast).passed
    per_series = forecast.group_by("store_id", "item_id").len()
    assert per_series["len"].to_list() == [HORIZON] * per_series.height
    assert forecast["data_as_of"].unique().to_list() == [LAST]
    assert forecast["date"].min() == LAST + timedelta(days=1)
    assert forecast["model_version"].unique().to_list() == ["1"]


def test_new_category_is_forecast_from_the_level_above_never_zero(pipeline):
    home, _, toys = pipeline
    forecast = query(home, "SELECT * FROM demand_forecasts.store_item_daily")
    new = forecast.filter(pl.col("item_id").is_in(toys))
    assert new.select("store_id", "item_id").n_unique() == 2 * 3  # every store sells them
    assert new["p50"].null_count() == 0 and (new["p50"] > 0).all()
    assert (new["fallback"] != "none").all()


def test_replenishment_has_an_order_and_a_reason_per_series(pipeline):
    home, _, _ = pipeline
    orders = query(home, "SELECT * FROM demand_decisions.replenishment")
    series = query(home, "SELECT DISTINCT store_id, item_id FROM demand_forecasts.store_item_daily")
    assert orders.height == series.height
    assert (orders["order_qty"] >= 0).all() and orders["order_qty"].sum() > 0
    assert orders["reason"].str.contains("forecast over 14 days").all()
    established = orders.filter(pl.col("fallback") == "none")
    assert established["drivers"].str.count_matches(",").to_list() == [2] * established.height


def test_a_corrupted_forecast_fails_the_contract():
    row = {
        "store_id": "S01", "item_id": "I1", "date": date(2024, 2, 2), "horizon": 1,
        "p10": 5.0, "p50": 3.0, "p90": -1.0, "fallback": "none", "drivers": None,
        "model_version": "1",
        "data_as_of": date(2024, 2, 1),
    }  # fmt: skip
    frame = pl.DataFrame([row]).with_columns(
        pl.col("horizon").cast(pl.Int16),
        pl.col("p10", "p50", "p90").cast(pl.Float32),
        pl.col("drivers").cast(pl.String),
    )
    outcome = contract_outcome(ForecastModel, frame)
    assert not outcome.passed
    assert any("quantiles_are_ordered" in rule for rule in outcome.failures)
    assert any(rule.startswith("p90") for rule in outcome.failures)


def test_prophet_is_registered_and_serves_store_totals_from_the_registry(pipeline):
    home, _, _ = pipeline
    target = mlflow_target("demand", home)
    serving = champion(target, "demand_prophet")
    assert serving is not None and serving.params["series"] == "3"
    model = load_champion(target, "demand_prophet", "pyfunc")
    rows = pd.DataFrame(
        {"store_id": ["S01", "S02"], "ds": pd.to_datetime([LAST + timedelta(days=1)] * 2),
         "promo_share": [0.1, 0.0]}
    )  # fmt: skip
    predicted = model.predict(rows)
    assert list(predicted.columns) == ["p10", "p50", "p90"]
    assert (predicted["p50"] > 0).all() and (predicted["p10"] <= predicted["p90"]).all()


def test_refit_is_gated_against_the_baseline_and_rollback_is_one_command(pipeline, capsys):
    home, _, _ = pipeline
    assert is_refit(
        {"window_days": "240", "objective": "tweedie"},
        {"window_days": 240, "objective": "tweedie"},
        ("window_days", "objective"),
    )
    assert not is_refit({"window_days": "240"}, {"window_days": 365}, ("window_days",))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV_VAR, str(home.root))
        again = materialize_days(
            demand_defs(), dg.DagsterInstance.ephemeral(), LAST, LAST,
            selection='key:"demand/models/lightgbm"',
            run_config={"ops": {key: SMALL_MODELS["ops"][key] for key in [LIGHTGBM_OP]}},
        )  # fmt: skip
    assert again.success
    target = mlflow_target("demand", home)
    assert champion(target, "demand_lightgbm").version == "2"  # a refit that beats naive
    main(["model", "rollback", "demand_lightgbm", "--home", str(home.root)])
    assert "from version 2 to version 1" in capsys.readouterr().out
    assert champion(target, "demand_lightgbm").version == "1"
