"""Registry: runs are really stored, the champion loads, rollback restores (gate: test_gate).

One SQLite store per module (first use of MLflow costs seconds); each test uses its own model
name so tests stay independent.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from intel_platform.core.gate import apply_gate, promotion_gate
from intel_platform.core.home import ProjectHome
from intel_platform.core.registry import (
    TRACKING_URI_ENV,
    MlflowTarget,
    RollbackError,
    TrainingRun,
    champion,
    data_version,
    load_champion,
    log_training_run,
    mlflow_target,
    rollback,
    tracking_uri,
)

FEATURES = ["price", "promo"]
BASELINE = {"wape": 0.40}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> MlflowTarget:
    """The explicit URI ignores any INTEL_MLFLOW_TRACKING_URI of the machine running tests."""
    home = ProjectHome(tmp_path_factory.mktemp("registry_home"))
    return mlflow_target("test_registry", home, uri=tracking_uri(home))


def _features(rows: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"price": rng.uniform(1, 10, rows), "promo": rng.integers(0, 2, rows).astype(float)}
    )


def _linear(slope: float):
    from sklearn.linear_model import LinearRegression

    x = _features()
    return LinearRegression().fit(x, slope * x["price"] + x["promo"])


def log_sklearn_run(target: MlflowTarget, name: str, slope: float, wape: float, **extra):
    run = TrainingRun(
        model_name=name,
        flavor="sklearn",
        model=_linear(slope),
        features=FEATURES,
        input_example=_features().head(3),
        metrics={"wape": wape},
        **extra,
    )
    return log_training_run(target, run)


def promote(target: MlflowTarget, name: str, version: str, wape: float) -> None:
    current = champion(target, name)
    decision = promotion_gate(
        {"wape": wape}, current and current.metrics, BASELINE, metric="wape", margin=0.02
    )
    assert decision.promoted, decision.reason
    apply_gate(target, name, version, decision)


# --- data version --------------------------------------------------------------------------


def test_data_version_is_stable_and_changes_with_one_value():
    frame = pl.DataFrame({"store": [1, 1, 2], "units": [3.0, None, 5.0], "day": ["a", "b", "c"]})
    assert data_version(frame) == data_version(frame.clone())
    assert data_version(frame) != data_version(frame.with_columns(units=pl.Series([3.0, 0.0, 5.0])))
    assert data_version(frame) != data_version(frame.rename({"units": "qty"}))
    assert data_version(frame) != data_version(frame.head(2))
    assert len(data_version(frame.clear())) == 16


# --- target --------------------------------------------------------------------------------


def test_target_uses_home_store_unless_the_env_var_or_an_explicit_uri_says_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    home = ProjectHome(tmp_path)
    monkeypatch.delenv(TRACKING_URI_ENV, raising=False)
    local = mlflow_target("demand", home)
    assert local.tracking_uri == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    assert local.artifact_location == (tmp_path / "mlflow" / "artifacts").as_uri()
    monkeypatch.setenv(TRACKING_URI_ENV, "http://mlflow:5000")
    assert mlflow_target("demand", home) == MlflowTarget("http://mlflow:5000", "demand")
    explicit = mlflow_target("demand", home, uri=f"sqlite:///{tmp_path}/other/x.db")
    assert explicit.artifact_location == (tmp_path / "other" / "artifacts").as_uri()


# --- logging -------------------------------------------------------------------------------


def test_training_run_stores_params_metrics_features_versions_importance_and_signature(
    target: MlflowTarget, tmp_path: Path
):
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import Model

    uri_before = mlflow.get_tracking_uri()
    registered = log_sklearn_run(
        target,
        "logged",
        2.0,
        0.2,
        params={"alpha": 0.5},
        data_versions={"sales": "abc123", "calendar": "def456"},
        feature_importance={"promo": 0.25, "price": 0.75},
        tags={"retrain_reason": "drift"},
    )
    assert mlflow.get_tracking_uri() == uri_before  # global MLflow state is put back
    client = MlflowClient(target.tracking_uri, target.tracking_uri)
    data = client.get_run(registered.run_id).data
    assert data.params["alpha"] == "0.5"
    assert data.params["features"] == "price,promo"
    assert data.metrics["wape"] == 0.2
    assert data.metrics["importance.price"] == 0.75
    assert data.tags["data_version.sales"] == "abc123"
    assert data.tags["retrain_reason"] == "drift"

    importance = client.download_artifacts(registered.run_id, "feature_importance.json", tmp_path)
    assert json.loads(Path(importance).read_text()) == {"price": 0.75, "promo": 0.25}
    listed = client.download_artifacts(registered.run_id, "features.json", tmp_path)
    assert json.loads(Path(listed).read_text()) == {"features": FEATURES}

    version = client.get_model_version("logged", registered.version)
    logged_model = client.get_logged_model(version.source.removeprefix("models:/"))
    assert logged_model.artifact_location.startswith(target.artifact_location)
    model_dir = logged_model.artifact_location.removeprefix("file://")
    assert Model.load(model_dir).signature.inputs.input_names() == FEATURES
    assert client.get_registered_model("logged").aliases == {"challenger": int(registered.version)}
    assert version.tags["data_version.calendar"] == "def456"


# --- aliases, rollback, loading ------------------------------------------------------------


def test_apply_gate_rollback_and_load_champion(target: MlflowTarget):
    x = _features().head(5)
    oldest = log_sklearn_run(target, "flow", 1.0, 0.35)
    promote(target, "flow", oldest.version, 0.35)
    first = log_sklearn_run(target, "flow", 2.0, 0.30)
    promote(target, "flow", first.version, 0.30)
    second = log_sklearn_run(target, "flow", 3.0, 0.20)
    promote(target, "flow", second.version, 0.20)

    info = champion(target, "flow")
    assert (info.version, info.run_id) == (second.version, second.run_id)
    assert info.metrics["wape"] == 0.20 and info.tags["gate.promoted"] == "true"
    from mlflow import MlflowClient

    client = MlflowClient(target.tracking_uri, target.tracking_uri)
    aliases = client.get_registered_model("flow").aliases
    assert aliases["previous_champion"] == int(first.version)
    np.testing.assert_allclose(
        load_champion(target, "flow", "sklearn").predict(x), _linear(3).predict(x)
    )

    message = rollback(target, "flow")
    assert f"from version {second.version} to version {first.version}" in message
    assert champion(target, "flow").version == first.version
    np.testing.assert_allclose(
        load_champion(target, "flow", "sklearn").predict(x), _linear(2).predict(x)
    )
    assert client.get_model_version("flow", second.version).tags["rolled_back"] == "true"

    # previous_champion walked back one step too: a second rollback reaches the oldest.
    assert "to version 1" in rollback(target, "flow")
    assert champion(target, "flow").version == oldest.version
    with pytest.raises(RollbackError, match="no previous champion"):
        rollback(target, "flow")


def test_no_champion_before_the_first_promotion(target: MlflowTarget):
    assert champion(target, "never_registered") is None
    with pytest.raises(RollbackError):
        rollback(target, "never_registered")
    with pytest.raises(LookupError, match="no champion yet"):
        load_champion(target, "never_registered", "sklearn")


def test_lightgbm_model_round_trips_through_the_registry(target: MlflowTarget):
    from lightgbm import LGBMRegressor

    x = _features()
    model = LGBMRegressor(n_estimators=5, min_child_samples=5, verbose=-1)
    model.fit(x, 2 * x["price"])
    run = TrainingRun(
        model_name="gbm",
        flavor="lightgbm",
        model=model,
        features=FEATURES,
        input_example=pl.from_pandas(x.head(3)),
        metrics={"wape": 0.1},
        feature_importance=dict(zip(FEATURES, model.feature_importances_.tolist(), strict=True)),
    )
    registered = log_training_run(target, run)
    promote(target, "gbm", registered.version, 0.1)
    loaded = load_champion(target, "gbm", "lightgbm")
    np.testing.assert_allclose(loaded.predict(x.head(5)), model.predict(x.head(5)))
