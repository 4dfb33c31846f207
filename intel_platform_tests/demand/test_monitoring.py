"""Monitoring: drift and decay are measured, flagged, and turned into exactly one retraining run
that goes through the gate (DOMAIN.md, "the slow drift")."""

from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from intel_platform.core.home import HOME_ENV_VAR, ProjectHome
from intel_platform.core.registry import mlflow_target
from intel_platform.core.resources import MlflowResource, ProjectHomeResource
from intel_platform.core.runs import failed_steps, materialize_days
from intel_platform.demand import monitoring
from intel_platform.demand.definitions import defs as demand_defs
from intel_platform.demand.drift import (
    accuracy_decision,
    accuracy_vs_actuals,
    feature_drift,
    sample_rows,
)
from intel_platform.demand.generate import generate_demand
from intel_platform.demand.monitoring import (
    ACCURACY_KEY,
    DRIFT_KEY,
    RETRAIN_SELECTION,
    DriftConfig,
    demand_retrain_sensor,
)
from intel_platform_tests.fixtures import pos_files, query, rewrite_csv

# --- pure: drift -----------------------------------------------------------------------------


def test_feature_drift_flags_the_shifted_feature_and_leaves_the_stable_ones_ok():
    reference = pl.DataFrame({"price": range(100), "stable": range(100), "store_code": [0, 1] * 50})
    recent = pl.DataFrame(
        {"price": range(60, 160), "stable": range(100), "store_code": [1, 0] * 50}
    )
    drift = feature_drift(reference, recent, ["price", "stable", "store_code"])
    status = dict(zip(drift["feature"], drift["status"], strict=True))
    assert status == {"price": "retrain", "stable": "ok", "store_code": "ok"}
    assert drift["feature"][0] == "price"  # most drifted first
    assert drift.filter(pl.col("feature") == "stable")["psi"].item() == 0.0
    assert drift.filter(pl.col("feature") == "store_code")["kind"].item() == "categorical"


def test_feature_drift_warns_between_the_thresholds_and_codes_compare_as_categories():
    reference = pl.DataFrame({"store_code": [0] * 50 + [1] * 50})
    recent = pl.DataFrame({"store_code": [0] * 75 + [1] * 25})
    drift = feature_drift(reference, recent, ["store_code"])
    # 0.25 ln(0.75 / 0.5) + 0.25 ln(0.5 / 0.25) = 0.2747: above 0.2 (warn), below 0.3
    assert drift["psi"].item() == pytest.approx(0.2747, abs=1e-3)
    assert drift["status"].item() == "warn"
    strict = feature_drift(reference, recent, ["store_code"], warn=0.1, retrain=0.25)
    assert strict["status"].item() == "retrain"


def test_reference_sample_is_bounded_reproducible_and_lazy():
    frame = pl.LazyFrame(
        {"store_id": ["S1"] * 20_000, "item_id": [f"I{i % 50}" for i in range(20_000)],
         "date": [date(2024, 1, 1) + timedelta(days=i // 50) for i in range(20_000)]}
    )  # fmt: skip
    first = sample_rows(frame, 20_000, 2_000, seed=3).collect()
    assert 1_700 < first.height < 2_300
    assert first.equals(sample_rows(frame, 20_000, 2_000, seed=3).collect())
    assert sample_rows(frame, 20_000, 50_000, seed=3).collect().height == 20_000


# --- pure: accuracy against actuals --------------------------------------------------------

D1, D2, D3 = date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 3)
FORECASTS = pl.DataFrame(
    {"store_id": ["S1"] * 5, "item_id": ["I1", "I1", "I2", "I2", "I2"],
     "date": [D1, D2, D1, D2, D3], "horizon": [1, 2, 8, 9, 10],
     "p50": [10.0, 12.0, 5.0, 6.0, 7.0], "model_version": ["1"] * 5}
)  # fmt: skip
ACTUALS = pl.DataFrame(
    {"store_id": ["S1"] * 4, "item_id": ["I1", "I1", "I2", "I2"], "date": [D1, D2, D1, D2],
     "units": [8, 10, 5, None]}
)  # fmt: skip


def _scope(accuracy: pl.DataFrame, scope: str, group: str) -> dict:
    return accuracy.filter((pl.col("scope") == scope) & (pl.col("group") == group)).row(
        0, named=True
    )


def test_accuracy_scores_matured_rows_with_exact_wape_and_bias():
    accuracy = accuracy_vs_actuals(FORECASTS, ACTUALS, backtest_wape=0.16)
    overall = _scope(accuracy, "overall", "all")
    # D3 has not matured; I2 on D2 is a missing day (null), not zero demand: 3 rows remain.
    assert overall["n"] == 3
    assert overall["wape"] == pytest.approx(4 / 23)  # (|8-10| + |10-12| + |5-5|) / 23
    assert overall["bias"] == pytest.approx(4 / 23)
    assert overall["mape"] == pytest.approx((2 / 8 + 2 / 10 + 0) / 3)
    assert _scope(accuracy, "horizon", "1-7")["wape"] == pytest.approx(4 / 18)
    assert _scope(accuracy, "horizon", "8-14")["wape"] == 0.0
    assert _scope(accuracy, "model_version", "1")["n"] == 3
    assert overall["decay"] is False  # 0.174 <= 1.1 x 0.16 = 0.176
    assert overall["biased"] is True  # +17 % > 5 %


def test_decay_is_flagged_more_than_ten_percent_above_the_backtest():
    accuracy = accuracy_vs_actuals(FORECASTS, ACTUALS, backtest_wape=0.15)  # 0.174 > 0.165
    overall = _scope(accuracy, "overall", "all")
    assert overall["decay"] is True
    assert overall["wape_vs_backtest"] == pytest.approx((4 / 23) / 0.15 - 1)
    unbiased = FORECASTS.with_columns(p50=pl.Series([10.0, 8.0, 5.0, 6.0, 7.0]))
    assert (
        _scope(accuracy_vs_actuals(unbiased, ACTUALS, backtest_wape=1.0), "overall", "all")[
            "biased"
        ]
        is False
    )  # (2 - 2 + 0) / 23 = 0


def test_categories_and_the_decision_judge_the_champion_on_enough_rows():
    categories = pl.DataFrame({"item_id": ["I1", "I2"], "category": ["Food", "Toys"]})
    accuracy = accuracy_vs_actuals(FORECASTS, ACTUALS, backtest_wape=0.15, categories=categories)
    assert _scope(accuracy, "category", "Toys")["wape"] == 0.0
    requested, detail = accuracy_decision(accuracy, "1", min_rows=3)
    assert requested and "WAPE 0.174" in detail and "bias +17.4%" in detail
    assert accuracy_decision(accuracy, "1", min_rows=4) == (False, "")
    assert accuracy_decision(accuracy, "2", min_rows=1) == (False, "")  # no own forecasts yet


# --- the sensor on reported evaluations ------------------------------------------------------


def _report(instance, key, reason: str | None, as_of: str = "2024-10-01") -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            key,
            metadata={
                "retrain_requested": reason is not None,
                "retrain_reason": reason or "",
                "champion_version": "1",
                "data_as_of": as_of,
            },
        )  # fmt: skip
    )


def _tick(instance, cursor, definitions=None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions)
    return demand_retrain_sensor.evaluate_tick(context)


@dg.asset
def stand_in_retrain() -> None:
    """Stands for a retraining run launched with the request's tags."""


def test_sensor_requests_once_per_flagged_evaluation_and_never_twice_on_the_same_evidence():
    instance = dg.DagsterInstance.ephemeral()
    assert _tick(instance, None).run_requests == []
    _report(instance, DRIFT_KEY, None)
    assert _tick(instance, None).run_requests == []  # evaluated, nothing asked
    _report(instance, DRIFT_KEY, "drift")
    _report(instance, ACCURACY_KEY, "decay")
    tick = _tick(instance, None)
    (request,) = tick.run_requests
    assert request.tags["retrain_reason"] == "drift+decay"
    assert request.run_config["ops"]["demand__models__prophet"]["config"] == {
        "retrain_reason": "drift+decay"
    }
    assert _tick(instance, tick.cursor).run_requests == []
    user_tags = {k: v for k, v in request.tags.items() if not k.startswith("dagster/")}
    assert dg.materialize([stand_in_retrain], instance=instance, tags=user_tags).success
    _report(instance, DRIFT_KEY, "drift")  # re-evaluated, same champion, same data
    again = _tick(instance, tick.cursor)
    assert again.run_requests == [] and again.skip_message == "already retrained on this evidence"
    _report(instance, DRIFT_KEY, "drift", as_of="2024-10-02")  # a new day, still drifting
    assert len(_tick(instance, again.cursor).run_requests) == 1


def test_feature_drift_without_a_champion_reports_no_reference(home):
    result = monitoring.feature_drift(
        config=DriftConfig(),
        warehouse=DuckDBResource(database=str(home.warehouse)),
        project_home=ProjectHomeResource(path=str(home.root)),
        mlflow=MlflowResource(home=str(home.root)),
    )
    assert result.metadata["status"] == "no reference"
    assert result.metadata["retrain_requested"] is False
    assert query(home, "SELECT count(*) AS n FROM demand_monitoring.feature_drift")["n"][0] == 0


# --- end to end: the drift drill and the decay drill on one generated history ----------------

START, DAYS, HORIZON = date(2024, 1, 1), 330, 14
LAST = START + timedelta(days=DAYS - 1)
CUT = LAST - timedelta(days=28)  # the champion trains up to here; the world changes after
MODEL = {"window_days": 180, "num_boost_round": 80, "backtest_windows": 2, "horizon": HORIZON}
SMALL_MODELS = {
    "ops": {
        "demand__models__backtest": {"config": {**MODEL, "prophet_workers": 1}},
        "demand__models__lightgbm": {"config": {**MODEL, "retrain_reason": "new_data"}},
        "demand__models__prophet": {"config": {**MODEL}},
        "demand__forecasts__store_item_daily": {"config": {"horizon": HORIZON}},
    },
    "loggers": {"console": {"config": {"log_level": "WARNING"}}},
}
FEATURES = 'group:demand_raw or group:demand_harmonized or key:"demand/features/store_item_day"'


def _defs() -> dg.Definitions:
    """The demand location with the monitoring module, whether or not it is wired in yet."""
    base = demand_defs()
    if DRIFT_KEY in base.resolve_asset_graph().get_all_asset_keys():
        return base
    return dg.Definitions.merge(
        base,
        dg.Definitions(
            assets=dg.load_assets_from_modules([monitoring]), sensors=monitoring.SENSORS
        ),
    )


def _materialize(defs, instance, selection, run_config=None, tags=None):
    result = dg.materialize(
        list(defs.assets), instance=instance, resources=defs.resources, selection=selection,
        run_config=run_config or {"loggers": SMALL_MODELS["loggers"]}, tags=tags,
    )  # fmt: skip
    assert failed_steps(result) == {}
    return result


def _metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    (event,) = result.asset_materializations_for_node("__".join(key.path))
    return {name: value.value for name, value in event.metadata.items()}


def _competitor_opens(home: ProjectHome, first: date, last: date) -> None:
    """Prices up 60 %, demand down to a quarter in every store from ``first``: the world the
    champion learned no longer exists. Broken till rows stay broken."""
    units = pl.col("units").cast(pl.Int64, strict=False)
    price = pl.col("unit_price").cast(pl.Float64, strict=False)
    day = first
    while day <= last:
        for path in pos_files(home, day):
            rewrite_csv(path, lambda f: f.with_columns(
                units=pl.when(units >= 0).then((units * 0.25).round().cast(pl.Int64)
                                               .cast(pl.String)).otherwise("units"),
                unit_price=pl.when(price.is_not_null()).then((price * 1.6).round(2)
                                                             .cast(pl.String))
                .otherwise("unit_price"),
            ))  # fmt: skip
        day += timedelta(days=1)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Champion v1 trained up to CUT; then 28 days of a changed world land and are ingested
    up to the features (nothing retrains by itself)."""
    root = tmp_path_factory.mktemp("monitoring")
    instance = dg.DagsterInstance.ephemeral()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV_VAR, str(root / "home"))
        home = ProjectHome.resolve().ensure()
        generate_demand(home, stores=3, items=30, days=DAYS, start=START, seed=7)
        base = materialize_days(demand_defs(), instance, START, CUT, run_config=SMALL_MODELS)
        assert failed_steps(base) == {}
        _competitor_opens(home, CUT + timedelta(days=1), LAST)
        defs = _defs()
        landed = materialize_days(defs, instance, CUT + timedelta(days=1), LAST, selection=FEATURES)
        assert failed_steps(landed) == {}
        yield home, instance, defs


@pytest.fixture(scope="module")
def drift_drill(pipeline):
    home, instance, defs = pipeline
    result = _materialize(defs, instance, dg.AssetSelection.assets(DRIFT_KEY))
    first = _tick(instance, None, defs)
    second = _tick(instance, first.cursor, defs)
    return _metadata(result, DRIFT_KEY), first, second


@pytest.fixture(scope="module")
def decay_drill(pipeline, drift_drill):
    home, instance, defs = pipeline
    result = _materialize(defs, instance, dg.AssetSelection.assets(ACCURACY_KEY))
    return _metadata(result, ACCURACY_KEY), _tick(instance, drift_drill[1].cursor, defs)


@pytest.fixture(scope="module")
def retrained(pipeline, drift_drill, decay_drill):
    """The drift request executed as the daemon would: its selection, tags and run config
    (on top of the test's small model settings)."""
    home, instance, defs = pipeline
    (request,) = drift_drill[1].run_requests
    config = {**SMALL_MODELS, "ops": {**SMALL_MODELS["ops"]}}
    for op, op_config in request.run_config["ops"].items():
        merged = {**SMALL_MODELS["ops"][op]["config"], **op_config["config"]}
        config["ops"][op] = {"config": merged}
    tags = {k: v for k, v in request.tags.items() if not k.startswith("dagster/")}
    _materialize(defs, instance, RETRAIN_SELECTION, run_config=config, tags=tags)
    return home


def test_drift_drill_flags_retrain_in_table_and_metadata(pipeline, drift_drill):
    home, _, _ = pipeline
    metadata, _, _ = drift_drill
    assert metadata["retrain_requested"] is True and metadata["retrain_reason"] == "drift"
    assert metadata["features_over_retrain"] >= 1 and metadata["max_psi"] > 0.3
    table = query(home, "SELECT * FROM demand_monitoring.feature_drift")
    status = dict(zip(table["feature"], table["status"], strict=True))
    assert status["price_per_unit"] == "retrain"
    assert status["day_of_week"] == "ok"  # four weeks look like any four weeks
    assert table["champion_version"].unique().to_list() == ["1"]
    assert table["reference_end"].unique().to_list() == [CUT]
    assert table["recent_start"].unique().to_list() == [CUT + timedelta(days=1)]
    assert table["recent_end"].unique().to_list() == [LAST]


def test_drift_drill_sensor_requests_one_retraining_and_then_none(drift_drill):
    _, first, second = drift_drill
    (request,) = first.run_requests
    assert request.tags["retrain_reason"] == "drift"
    assert request.tags["intel/trigger"] == "monitoring"
    for op in ("demand__models__lightgbm", "demand__models__prophet"):
        assert request.run_config["ops"][op]["config"]["retrain_reason"] == "drift"
    assert second.run_requests == []


def test_decay_drill_scores_the_archive_and_requests_retraining_for_decay(pipeline, decay_drill):
    home, _, _ = pipeline
    metadata, tick = decay_drill
    assert metadata["retrain_requested"] is True and metadata["retrain_reason"] == "decay"
    assert metadata["wape"] > 1.1 * metadata["backtest_wape"] and metadata["bias"] > 0.05
    table = query(home, "SELECT * FROM demand_monitoring.forecast_accuracy")
    mine = table.filter((pl.col("scope") == "model_version") & (pl.col("group") == "1"))
    assert mine["decay"].to_list() == [True] and mine["biased"].to_list() == [True]
    assert set(table["scope"]) == {"overall", "model_version", "horizon", "category"}
    (request,) = tick.run_requests
    assert request.tags["retrain_reason"] == "decay"


def test_the_retraining_run_registers_a_challenger_that_went_through_the_gate(retrained):
    from mlflow import MlflowClient

    target = mlflow_target("demand", retrained)
    client = MlflowClient(tracking_uri=target.tracking_uri, registry_uri=target.tracking_uri)
    versions = client.search_model_versions("name='demand_lightgbm'")
    newest = max(versions, key=lambda v: int(v.version))
    assert str(newest.version) == "2"
    assert newest.tags["retrain_reason"] == "drift"
    assert newest.tags["gate.promoted"] in {"true", "false"} and newest.tags["gate.reason"]
    prophet = client.search_model_versions("name='demand_prophet'")
    assert max(prophet, key=lambda v: int(v.version)).tags["retrain_reason"] == "drift"
