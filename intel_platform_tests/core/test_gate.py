"""Gate: the pure decision (baseline and champion, margin, direction, NaN), and the verdict
recorded on a version in a real store. Models are logged with the registry tests' helpers.
"""

import math

import pytest

from intel_platform.core.gate import apply_gate, promotion_gate
from intel_platform.core.home import ProjectHome
from intel_platform.core.registry import (
    MlflowTarget,
    RollbackError,
    champion,
    mlflow_target,
    rollback,
    tracking_uri,
)
from intel_platform_tests.core.test_registry import BASELINE, log_sklearn_run, promote


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> MlflowTarget:
    """The explicit URI ignores any INTEL_MLFLOW_TRACKING_URI of the machine running tests."""
    home = ProjectHome(tmp_path_factory.mktemp("gate_home"))
    return mlflow_target("test_gate", home, uri=tracking_uri(home))


# --- gate (pure) ---------------------------------------------------------------------------


def test_gate_promotes_a_better_challenger_and_keeps_the_champion_otherwise():
    better = promotion_gate({"wape": 0.2}, {"wape": 0.3}, BASELINE, metric="wape", margin=0.02)
    worse = promotion_gate({"wape": 0.35}, {"wape": 0.3}, BASELINE, metric="wape", margin=0.02)
    assert better.promoted
    assert not worse.promoted
    assert "champion" in worse.reason and "0.35" in worse.reason
    assert better.vs_champion == pytest.approx(1 / 3)


def test_gate_refuses_a_challenger_that_beats_the_champion_but_not_the_baseline():
    decision = promotion_gate({"wape": 0.45}, {"wape": 0.5}, BASELINE, metric="wape", margin=0.02)
    assert not decision.promoted
    assert "baseline" in decision.reason


def test_gate_respects_the_margin():
    def gate(challenger: float):
        return promotion_gate(
            {"wape": challenger}, {"wape": 0.3}, BASELINE, metric="wape", margin=0.02
        )

    assert not gate(0.297).promoted  # 1 % better
    assert gate(0.291).promoted  # 3 % better
    tie = promotion_gate({"wape": 0.3}, {"wape": 0.3}, BASELINE, metric="wape", margin=0.0)
    assert not tie.promoted


def test_gate_for_a_higher_is_better_metric_and_without_champion():
    kwargs = {"metric": "pr_auc", "margin": 0.02, "lower_is_better": False}
    assert promotion_gate({"pr_auc": 0.6}, {"pr_auc": 0.5}, {"pr_auc": 0.2}, **kwargs).promoted
    assert not promotion_gate({"pr_auc": 0.4}, {"pr_auc": 0.5}, {"pr_auc": 0.2}, **kwargs).promoted
    first = promotion_gate({"pr_auc": 0.3}, None, {"pr_auc": 0.2}, **kwargs)
    assert first.promoted and first.champion is None


def test_gate_never_promotes_nan_and_names_a_missing_metric():
    nan = promotion_gate({"wape": math.nan}, None, BASELINE, metric="wape", margin=0.0)
    assert not nan.promoted
    with pytest.raises(ValueError, match="challenger has no 'wape'"):
        promotion_gate({"mape": 0.1}, None, BASELINE, metric="wape", margin=0.0)


# --- verdict on a version ------------------------------------------------------------------


def test_rejected_challenger_is_tagged_and_the_champion_stays(target: MlflowTarget):
    kept = log_sklearn_run(target, "kept", 2.0, 0.30)
    promote(target, "kept", kept.version, 0.30)
    loser = log_sklearn_run(target, "kept", 3.0, 0.35)
    decision = promotion_gate(
        {"wape": 0.35}, champion(target, "kept").metrics, BASELINE, metric="wape", margin=0.02
    )
    apply_gate(target, "kept", loser.version, decision)
    from mlflow import MlflowClient

    tags = (
        MlflowClient(target.tracking_uri, target.tracking_uri)
        .get_model_version("kept", loser.version)
        .tags
    )
    assert tags["gate.promoted"] == "false" and tags["gate.challenger.wape"] == "0.35"
    assert champion(target, "kept").version == kept.version
    with pytest.raises(RollbackError):
        rollback(target, "kept")
