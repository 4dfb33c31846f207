"""Churn monitoring: drift and realized churn are measured, judged against the champion, and
turned into one retraining run (DOMAIN.md, "the slow drift")."""

from datetime import date

import dagster as dg
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from intel_platform.churn import models as churn_models
from intel_platform.churn import monitoring
from intel_platform.churn.monitoring import (
    DRIFT_KEY,
    REALIZED_KEY,
    ChurnDriftConfig,
    RealizedChurnConfig,
    churn_retrain_sensor,
    judge_realized,
    realized_metrics,
    reference_window,
    snapshot_drift,
    validation_pr_auc,
    watched_features,
)
from intel_platform.core.drift import drift_decision
from intel_platform.core.registry import ChampionInfo
from intel_platform.core.resources import MlflowResource
from intel_platform.core.warehouse import replace_table
from intel_platform_tests.fixtures import query

TRAIN = {"train_first_snapshot": "2024-01-07", "train_last_snapshot": "2024-01-14"}
CHAMPION = ChampionInfo(
    "churn_lightgbm", "2", "run-2", {"val_pr_auc": 0.9}, {},
    {**TRAIN, "features": "logins_14d,plan,mrr"},
)  # fmt: skip

# --- pure: drift -----------------------------------------------------------------------------


def _customers(logins: range, plans: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"logins_14d": list(logins), "plan": plans * (len(logins) // len(plans))})


def test_a_shifted_feature_requests_retraining_and_the_same_distribution_does_not():
    reference = _customers(range(100), ["basic", "pro"])
    shifted = _customers(range(60, 160), ["basic", "pro"])
    reference, shifted = (f.with_columns(plan_code=pl.col("logins_14d") % 3)
                          for f in (reference, shifted))  # fmt: skip
    drift = snapshot_drift(reference, shifted, ["logins_14d", "plan", "plan_code"])
    status = dict(zip(drift["feature"], drift["status"], strict=True))
    assert status == {"logins_14d": "retrain", "plan": "ok", "plan_code": "ok"}
    kinds = dict(zip(drift["feature"], drift["kind"], strict=True))
    assert kinds == {"logins_14d": "numeric", "plan": "categorical", "plan_code": "categorical"}
    requested, detail = drift_decision(drift)
    assert requested and detail.startswith("1 feature(s) over the retrain PSI: logins_14d")

    same = snapshot_drift(reference, _customers(range(100), ["pro", "basic"]), ["logins_14d"])
    assert same["psi"].item() == 0.0
    assert drift_decision(same) == (False, "")


def test_the_reference_window_and_the_watched_features_come_from_the_champion():
    assert reference_window(CHAMPION) == (date(2024, 1, 7), date(2024, 1, 14))
    assert reference_window(None) is None
    untracked = ChampionInfo("churn_lightgbm", "1", "r", {}, {}, {})
    assert reference_window(untracked) is None
    split_only = ChampionInfo("churn_lightgbm", "1", "r", {}, {}, {"fit_start": "2024-01-07",
                              "fit_end": "2024-02-04"})  # fmt: skip
    assert reference_window(split_only) == (date(2024, 1, 7), date(2024, 2, 4))
    columns = {"customer_id": pl.String, "snapshot_date": pl.Date, "logins_14d": pl.Int64,
               "plan": pl.String, "tenure_days": pl.Int64}  # fmt: skip
    assert watched_features(columns, [], CHAMPION) == ["logins_14d", "plan"]  # mrr: not there
    assert watched_features(columns, ["tenure_days"], CHAMPION) == ["tenure_days"]
    assert watched_features(columns, [], None) == ["logins_14d", "plan"]  # tenure: the clock
    assert validation_pr_auc(CHAMPION) == 0.9
    as_trained = ChampionInfo("churn_lightgbm", "1", "r", {"pr_auc": 0.4, "k": 200.0}, {}, {})
    assert validation_pr_auc(as_trained) == 0.4  # the trainer's evaluate() name
    assert validation_pr_auc(None) is None


def test_the_retraining_run_config_names_the_churn_models_step_and_its_config():
    """A run config naming an op the job lacks is rejected at launch: follow churn/models.py."""
    steps = {
        a.op.name: a.op.config_schema
        for a in vars(churn_models).values()
        if isinstance(a, dg.AssetsDefinition) and a.keys & set(monitoring.RETRAIN_KEYS)
    }
    assert set(monitoring.RETRAIN_OPS) <= set(steps)
    for op in monitoring.RETRAIN_OPS:
        assert "retrain_reason" in steps[op].config_type.fields


# --- pure: realized churn --------------------------------------------------------------------

D1, D2 = date(2024, 3, 3), date(2024, 3, 10)
# c1 on D2 is archived twice (a re-run of the same scoring); c5's label has not matured yet;
# c6 was never scored.
SCORES = pl.DataFrame(
    {"customer_id": ["c1", "c2", "c3", "c4", "c5", "c1", "c2", "c1"],
     "snapshot_date": [D1, D1, D1, D1, D1, D2, D2, D2],
     "risk": [0.9, 0.8, 0.7, 0.2, 0.1, 0.6, 0.3, 0.6],
     "risk_rank": [1, 2, 3, 4, 5, 1, 2, 1],
     "model_version": ["2"] * 8}
)  # fmt: skip
LABELS = pl.DataFrame(
    {"customer_id": ["c1", "c2", "c3", "c4", "c5", "c6", "c1", "c2"],
     "snapshot_date": [D1, D1, D1, D1, D1, D1, D2, D2],
     "churned": [True, False, True, False, None, True, False, True],
     "matured": [True, True, True, True, False, True, True, True],
     "definition": ["inactivity"] * 8}
)  # fmt: skip


def test_realized_churn_per_snapshot_is_exact_on_a_hand_checked_case():
    realized = realized_metrics(SCORES, LABELS, k=2)
    first, second = realized.rows(named=True)
    assert first["snapshot_date"] == D1 and first["model_version"] == "2"
    assert (first["customers"], first["churners"], first["k"]) == (4, 2, 2)  # c5, c6 left out
    assert first["churn_rate"] == 0.5
    assert first["mean_risk"] == pytest.approx(0.65)  # (.9 + .8 + .7 + .2) / 4
    assert first["calibration_gap"] == pytest.approx(0.15)
    assert first["brier"] == pytest.approx((0.01 + 0.64 + 0.09 + 0.04) / 4)
    assert first["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)  # churners at ranks 1 and 3
    assert first["precision_at_k"] == 0.5 and first["recall_at_k"] == 0.5  # c1, c2 called
    assert (second["customers"], second["churners"]) == (2, 1)  # the duplicate counts once
    assert second["pr_auc"] == 0.5  # the one churner ranked second
    assert second["precision_at_k"] == 0.5 and second["recall_at_k"] == 1.0


def test_a_snapshot_without_churners_has_no_pr_auc_rather_than_zero():
    labels = LABELS.with_columns(churned=pl.lit(False))
    realized = realized_metrics(SCORES, labels, k=2)
    assert realized["pr_auc"].to_list() == [None, None]
    assert realized["recall_at_k"].to_list() == [None, None]
    assert realized["precision_at_k"].to_list() == [0.0, 0.0]


def test_pr_auc_more_than_ten_percent_below_validation_asks_for_retraining():
    realized = realized_metrics(SCORES, LABELS, k=2)
    lenient = RealizedChurnConfig(min_customers=2, min_churners=1)
    judged, requested, detail = judge_realized(realized, 0.9, "2", lenient)
    assert judged["decay"].to_list() == [False, True]  # 0.833 >= 0.81; 0.5 < 0.81
    assert judged["pr_auc_vs_val"][1] == pytest.approx(0.5 / 0.9 - 1)
    assert requested and f"snapshot {D2}" in detail and "PR-AUC 0.500" in detail
    # Too few customers on D2: the newest snapshot with enough evidence (D1) is judged.
    assert judge_realized(realized, 0.9, "2", RealizedChurnConfig(min_customers=3))[1] is False
    assert judge_realized(realized, 0.55, "2", lenient)[1] is False  # 0.5 >= 0.495
    assert judge_realized(realized, 0.9, "3", lenient)[1] is False  # not the champion's scores
    assert judge_realized(realized, None, "2", lenient)[1] is False  # no validation value


# --- the assets and the sensor -----------------------------------------------------------------


def _resources(home) -> dict:
    return {
        "warehouse": DuckDBResource(database=str(home.warehouse)),
        "mlflow": MlflowResource(home=str(home.root)),
    }


def test_without_a_champion_both_report_nothing_to_compare(home):
    resources = _resources(home)
    drift = monitoring.feature_drift(config=ChurnDriftConfig(), **resources)
    assert drift.metadata["status"] == "no champion yet: nothing to compare"
    assert drift.metadata["retrain_requested"] is False
    realized = monitoring.realized_churn(config=RealizedChurnConfig(), **resources)
    assert realized.metadata["status"].startswith("no churn_scores.customer_risk_history")
    assert realized.metadata["retrain_requested"] is False
    assert query(home, "SELECT count(*) AS n FROM churn_monitoring.feature_drift")["n"][0] == 0


def _land_tables(home, shift: int) -> None:
    """Training snapshots, one newer snapshot (logins shifted by ``shift``), scores and labels."""
    days = [date(2024, 1, 7), date(2024, 1, 14), D2]
    snapshots = pl.concat(
        pl.DataFrame({
            "customer_id": [f"c{i}" for i in range(200)], "snapshot_date": [day] * 200,
            "logins_14d": [i % 50 + (shift if day == D2 else 0) for i in range(200)],
            "plan": ["basic", "pro"] * 100, "mrr": [10.0] * 200,
        })
        for day in days
    )  # fmt: skip
    with DuckDBResource(database=str(home.warehouse)).get_connection() as conn:
        replace_table(conn, "churn_features.customer_snapshot", snapshots)
        replace_table(conn, "churn_scores.customer_risk_history", SCORES)
        replace_table(conn, "churn_labels.churn_label", LABELS)


def _tick(instance, cursor):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return churn_retrain_sensor.evaluate_tick(context)


def test_drift_and_decay_become_one_churn_retraining_run(home, instance, monkeypatch):
    monkeypatch.setattr(monitoring, "champion", lambda target, name: CHAMPION)
    _land_tables(home, shift=40)
    lenient = {"config": {"min_customers": 2, "min_churners": 1, "k": 2}}
    result = dg.materialize(
        [monitoring.feature_drift, monitoring.realized_churn], instance=instance,
        resources=_resources(home),
        run_config={"ops": {"churn__monitoring__realized_churn": lenient}},
    )  # fmt: skip
    assert result.success
    drift = query(home, "SELECT * FROM churn_monitoring.feature_drift ORDER BY feature")
    assert drift["feature"].to_list() == ["logins_14d", "mrr", "plan"]
    assert drift["status"].to_list() == ["retrain", "ok", "ok"]
    assert drift["reference_rows"].unique().to_list() == [400]
    assert drift["snapshot_date"].unique().to_list() == [D2]
    assert drift["data_as_of"].unique().to_list() == [date(2024, 3, 9)]  # the snapshot's eve
    realized = query(home, "SELECT * FROM churn_monitoring.realized_churn ORDER BY snapshot_date")
    assert realized["decay"].to_list() == [False, True]
    assert realized["data_as_of"].unique().to_list() == [D2]

    tick = _tick(instance, None)
    (request,) = tick.run_requests
    assert request.tags["retrain_reason"] == "drift+decay"
    assert request.tags["intel/decay_state"] == f"v2/{D2}"
    assert request.tags["intel/drift_state"] == "v2/2024-03-09"
    assert request.run_config["ops"] == {
        "churn_models": {"config": {"retrain_reason": "drift+decay"}}
    }
    assert request.run_key.startswith("churn-retrain-")
    assert _tick(instance, tick.cursor).run_requests == []


def test_a_stable_snapshot_and_a_champion_on_promise_ask_for_nothing(home, instance, monkeypatch):
    monkeypatch.setattr(monitoring, "champion", lambda target, name: CHAMPION)
    _land_tables(home, shift=0)
    resources = _resources(home)
    drift = monitoring.feature_drift(config=ChurnDriftConfig(), **resources)
    assert drift.metadata["status"] == "evaluated" and drift.metadata["max_psi"] == 0.0
    assert drift.metadata["retrain_requested"] is False
    realized = monitoring.realized_churn(config=RealizedChurnConfig(), **resources)
    assert realized.metadata["retrain_requested"] is False  # 2-4 customers: too few to judge
    assert realized.metadata["pr_auc"] == 0.5


def test_retrain_sensor_targets_the_churn_models_scores_and_outreach():
    assert churn_retrain_sensor.name == "churn_retrain_sensor"
    assert monitoring.SENSORS == [churn_retrain_sensor]
    assert {REALIZED_KEY, DRIFT_KEY} == {
        dg.AssetKey(["churn", "monitoring", n]) for n in ("realized_churn", "feature_drift")
    }
    keys = {"/".join(key.path) for key in monitoring.RETRAIN_KEYS}
    assert keys == {"churn/models/logistic", "churn/models/lightgbm", "churn/scores/customer_risk",
                    "churn/decisions/outreach"}  # fmt: skip
