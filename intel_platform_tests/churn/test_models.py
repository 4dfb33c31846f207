"""Churn models asset: both models trained on one split, logged with their data versions,
registered separately and promoted only through the PR-AUC gate; rollback restores."""

from dataclasses import replace

import dagster as dg
import numpy as np
import pytest
from dagster_duckdb import DuckDBResource

from intel_platform.churn.models import (
    EXPERIMENT,
    SPECS,
    ChurnModelConfig,
    churn_models,
    read_inputs,
    training_run,
)
from intel_platform.churn.scores import no_champion_message
from intel_platform.churn.training import FEATURE_COLUMNS, labelled_snapshots, train_models
from intel_platform.core.gate import register_and_gate
from intel_platform.core.home import HOME_ENV_VAR, ProjectHome
from intel_platform.core.registry import champion, load_champion, rollback
from intel_platform.core.resources import MlflowResource
from intel_platform.core.warehouse import replace_table
from intel_platform_tests.churn.test_training import DEFINITION, synthetic_tables

CONFIG = {"capacity_k": 50, "num_boost_round": 60,
          "retrain_reason": "new_data"}  # fmt: skip


def write_inputs(home: ProjectHome, **generator) -> DuckDBResource:
    """The feature and label tables the churn models read, in the home's warehouse."""
    features, labels = synthetic_tables(**generator)
    warehouse = DuckDBResource(database=str(home.warehouse))
    with warehouse.get_connection() as conn:
        replace_table(conn, "churn_features.customer_snapshot", features)
        replace_table(conn, "churn_labels.churn_label", labels)
    return warehouse


def resources(home: ProjectHome, warehouse: DuckDBResource) -> dict:
    return {"warehouse": warehouse, "mlflow": MlflowResource(home=str(home.root))}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One materialization of both models on a fresh home (MLflow's first use costs seconds)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV_VAR, str(tmp_path_factory.mktemp("churn_models") / "home"))
        home = ProjectHome.resolve().ensure()
        warehouse = write_inputs(home, customers=400)
        result = dg.materialize(
            [churn_models], resources=resources(home, warehouse),
            run_config={"ops": {"churn_models": {"config": CONFIG}}},
        )  # fmt: skip
        yield home, warehouse, result


def _metadata(result, name: str) -> dict:
    events = result.asset_materializations_for_node("churn_models")
    found = [e for e in events if e.asset_key == dg.AssetKey(["churn", "models", name])]
    return {k: v.value for k, v in found[0].metadata.items()}


def test_both_models_materialize_and_the_first_run_promotes_both(trained):
    home, _, result = trained
    assert result.success
    logistic, gbm = _metadata(result, "logistic"), _metadata(result, "lightgbm")
    assert logistic["promoted"] and gbm["promoted"]
    assert logistic["baseline_pr_auc"] < logistic["pr_auc"]  # beat the positive rate
    assert gbm["baseline_pr_auc"] == logistic["pr_auc"]  # LightGBM vs the logistic model
    assert "promoted: pr_auc" in gbm["gate"] and "higher is better" in gbm["gate"]
    assert gbm["k"] == 50 and gbm["dagster/row_count"] == gbm["rows_used"] > 0
    assert gbm["validation_positives"] > 0 and gbm["positives"] > 0
    assert "| pr_auc |" in gbm["metrics"] and "lightgbm" in gbm["metrics"]
    assert "mean_predicted" in gbm["calibration"]
    assert gbm["retrain_reason"] == "new_data"
    assert gbm["gap_days"] == 28 and gbm["gap_source"] == "label maturity"  # 4 weekly snapshots
    target = MlflowResource(home=str(home.root)).target(EXPERIMENT)
    assert champion(target, "churn_logistic").version == "1"
    assert champion(target, "churn_lightgbm").version == "1"


def test_mlflow_run_records_params_metrics_features_and_data_versions(trained):
    from mlflow import MlflowClient

    home, warehouse, result = trained
    gbm = _metadata(result, "lightgbm")
    target = MlflowResource(home=str(home.root)).target(EXPERIMENT)
    run = MlflowClient(target.tracking_uri, target.tracking_uri).get_run(gbm["mlflow_run_id"])
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["features"] == ",".join(FEATURE_COLUMNS)
    assert params["num_boost_round"] == "60" and params["k"] == "50"
    assert params["label_definition"] == DEFINITION and params["calibration"] == "platt"
    assert params["gap_days"] == "28" and params["fit_end"] < params["validation_start"]
    assert {"pr_auc", "roc_auc", "precision_at_k", "recall_at_k", "brier", "ece",
            "ece_uncalibrated", "prevalence"} <= set(metrics)  # fmt: skip
    assert metrics["pr_auc"] == pytest.approx(gbm["pr_auc"])
    features, labels = read_inputs(warehouse)
    assert tags["data_version.training_set"] == gbm["data_version"]
    assert len(tags["data_version.customer_snapshot"]) == 16
    assert tags["retrain_reason"] == "new_data" and tags["dagster_run_id"] == result.run_id
    loaded = load_champion(target, "churn_lightgbm", "pyfunc")
    rows = labelled_snapshots(features, labels).tail(20)
    served = loaded.predict(rows.select(FEATURE_COLUMNS).cast({c: float for c in FEATURE_COLUMNS})
                            .to_pandas())  # fmt: skip
    assert served["risk"].between(0, 1).all()
    model = loaded.unwrap_python_model().model
    np.testing.assert_allclose(served["risk"].to_numpy(), model.predict(rows))


def test_gate_promotes_better_keeps_worse_refits_and_rolls_back(trained):
    """Crafted metrics on real runs, under a model name of its own (the asset's stay intact)."""
    home, _, _ = trained
    target = MlflowResource(home=str(home.root)).target(EXPERIMENT)
    result = train_models(labelled_snapshots(*synthetic_tables(customers=150)), _params())
    config = ChurnModelConfig(**CONFIG)
    name = "churn_lightgbm_gate_test"

    def gate(pr_auc: float, config: ChurnModelConfig = config):
        run = training_run(result, "lightgbm", config, {"training_set": "x"}, "test")
        run = replace(run, model_name=name, metrics={**run.metrics, "pr_auc": pr_auc})
        return register_and_gate(target, run, metric="pr_auc", baseline=0.30, margin=0.02,
                                 lower_is_better=False, spec=SPECS["lightgbm"])  # fmt: skip

    rejected = gate(0.25)  # below the logistic baseline: nothing serves yet, and it says why
    assert not rejected.decision.promoted and champion(target, name) is None
    assert "does not beat the baseline" in no_champion_message(target, name)
    first = gate(0.50)
    assert first.decision.promoted and first.decision.champion is None
    new_spec = ChurnModelConfig(**{**CONFIG, "num_leaves": 31})
    worse = gate(0.45, new_spec)
    assert not worse.decision.promoted and "does not beat the champion" in worse.decision.reason
    assert champion(target, name).version == first.registered.version
    refit = gate(0.45)  # the champion's spec on newer data: judged against the baseline only
    assert refit.refit and refit.decision.promoted
    better = gate(0.60, new_spec)
    assert better.decision.promoted and not better.refit
    assert champion(target, name).version == better.registered.version
    assert f"to version {refit.registered.version}" in rollback(target, name)
    assert champion(target, name).version == refit.registered.version


def _params():
    from intel_platform.churn.models import training_params

    return training_params(ChurnModelConfig(**CONFIG), 28)
