"""Churn scores: every customer of the newest snapshot scored by the champion with drivers that
read well, archived idempotently; the blocking checks catch a corrupted score; no champion
fails clearly."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl
import pytest

from intel_platform.churn.models import ChurnModelConfig, churn_models, training_params
from intel_platform.churn.scores import (
    ACTIONS,
    COLUMNS,
    DRIVERS,
    HISTORY_TABLE,
    CustomerRiskModel,
    customer_risk,
    driver_text,
    explain,
    score_customers,
    score_outcomes,
    scoring_snapshot,
)
from intel_platform.churn.training import FEATURE_COLUMNS, labelled_snapshots, train_models
from intel_platform.core.checks import contract_outcome
from intel_platform.core.home import HOME_ENV_VAR, ProjectHome
from intel_platform.core.warehouse import read_table
from intel_platform_tests.churn.test_models import CONFIG, resources, write_inputs
from intel_platform_tests.churn.test_training import synthetic_tables

SCORED_AT = datetime(2025, 5, 6, 3, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def scored():
    """A small model and the scores of the newest snapshot (pure, no MLflow)."""
    features, labels = synthetic_tables(customers=150)
    params = training_params(ChurnModelConfig(**CONFIG), 28)
    model = train_models(labelled_snapshots(features, labels), params).models["lightgbm"]
    snapshot = scoring_snapshot(features)
    scores = score_customers(snapshot, model, model_version="7", scored_at=SCORED_AT)
    return snapshot, scores, model


def test_every_customer_of_the_newest_snapshot_gets_one_ranked_score(scored):
    snapshot, scores, _ = scored
    assert scores.columns == list(COLUMNS)
    assert scores.height == snapshot.height == scores["customer_id"].n_unique()
    assert scores["customer_id"].to_list() == sorted(snapshot["customer_id"].to_list())
    assert scores["risk"].dtype == pl.Float32 and scores["risk"].is_between(0, 1).all()
    assert sorted(scores["risk_rank"].to_list()) == list(range(1, scores.height + 1))
    top = scores.sort("risk_rank").head(2)["risk"].to_list()
    assert top[0] >= top[1] == scores["risk"].sort(descending=True)[1]
    newest = snapshot["snapshot_date"].max()
    assert scores["data_as_of"].unique().to_list() == [newest - timedelta(days=1)]
    assert scores["model_version"].unique().to_list() == ["7"]
    assert scores["scored_at"].unique().to_list() == [SCORED_AT]
    assert all(o.passed for o in score_outcomes(scores, snapshot).values())


@pytest.mark.parametrize(
    ("corrupt", "rule"),
    [
        (lambda f: f.with_columns(risk=pl.lit(1.5, pl.Float32)), "risk"),
        (lambda f: f.with_columns(risk=pl.lit(None, pl.Float32)), "risk"),
        (lambda f: pl.concat([f, f.head(1)]), "customer_id"),
        (lambda f: f.with_columns(model_version=pl.lit(None, pl.String)), "model_version"),
        (lambda f: f.with_columns(action=pl.lit("offer a discount")), "action"),
    ],
)
def test_the_contract_fails_on_a_corrupted_score(scored, corrupt, rule):
    outcome = contract_outcome(CustomerRiskModel, corrupt(scored[1]))
    assert not outcome.passed
    assert any(rule in failure for failure in outcome.failures), outcome.failures


def test_a_customer_left_unscored_fails_completeness(scored):
    snapshot, scores, _ = scored
    outcome = score_outcomes(scores.tail(-1), snapshot)["every_customer_scored"]
    assert not outcome.passed
    assert outcome.sample["customer_id"].to_list() == [scores["customer_id"][0]]


# --- drivers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("feature", "value", "text"),
    [
        ("login_change_wow", -0.6, "logins down 60 % week over week"),
        ("refund_requests_30d", 2, "2 refund requests in 30 days"),
        ("refund_requests_30d", 1, "1 refund request in 30 days"),
        ("days_since_last_login", 21.0, "no login for 21 days"),
        ("days_since_last_login", None, "never logged in"),
        ("downgrades_90d", 1, "downgraded in last 90 days"),
        ("billing_retries_30d", 3, "3 failed payment retries in 30 days"),
        ("plan_code", 0, "on the basic plan"),
        ("mrr", float("nan"), "revenue unknown"),
    ],
)
def test_driver_text_reads_like_a_person_wrote_it(feature, value, text):
    assert driver_text(feature, value) == text


def test_every_feature_has_a_phrase_and_no_action_is_a_discount():
    assert set(DRIVERS) == set(FEATURE_COLUMNS)
    assert {d.action for d in DRIVERS.values()} <= set(ACTIONS)
    assert not any("discount" in action for action in ACTIONS)
    for feature in FEATURE_COLUMNS:  # a missing value never crashes the phrase
        assert isinstance(driver_text(feature, None), str)


def test_explain_names_only_features_that_push_risk_up(scored):
    rows, _, model = scored
    explained = explain(model, rows)
    assert explained.columns == [
        "customer_id", "snapshot_date", "driver_1", "driver_2", "driver_3", "action",
    ]  # fmt: skip
    assert set(explained["action"]) <= set(ACTIONS)
    contributions = model.contributions(rows)
    pushing = (contributions > 0).sum(axis=1)
    assert (explained["driver_1"].is_null().to_numpy() == (pushing == 0)).all()
    assert (explained["driver_3"].is_not_null().to_numpy() == (pushing >= 3)).all()
    # Customers hit by the interaction (no logins, failed payments) hear about it.
    risky = explained.filter((rows["logins_7d"] <= 1) & (rows["billing_retries_30d"] >= 1)).select(
        pl.concat_str("driver_1", "driver_2", "driver_3", separator="; ", ignore_nulls=True)
    )
    mentioned = risky.to_series().str.contains("failed payment").mean()
    assert mentioned > 0.8


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Scoring before any model (must fail), then models and scores on a fresh home, scored
    twice (re-issuing the same snapshot)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV_VAR, str(tmp_path_factory.mktemp("churn_scores") / "home"))
        home = ProjectHome.resolve().ensure()
        warehouse = write_inputs(home, customers=300)
        try:
            list(customer_risk(**resources(home, warehouse)))
            missing = None
        except dg.Failure as error:  # keep the text, not the traceback (and its MLflow store)
            missing = error.description
        config = {"ops": {"churn_models": {"config": CONFIG}}}
        first = dg.materialize([churn_models, customer_risk], resources=resources(home, warehouse),
                               run_config=config)  # fmt: skip
        again = dg.materialize([customer_risk], resources=resources(home, warehouse))
        yield warehouse, first, again, missing


def test_without_a_champion_scoring_fails_and_says_what_to_do(pipeline):
    *_, missing = pipeline
    assert "materialize churn/models/logistic and churn/models/lightgbm" in missing
    assert "No version has been trained yet" in missing


def test_the_scores_asset_materializes_passes_its_checks_and_archives_once(pipeline):
    warehouse, first, again, _ = pipeline
    assert first.success and again.success
    checks = [*first.get_asset_check_evaluations(), *again.get_asset_check_evaluations()]
    assert {c.check_name for c in checks} == {"risk_contract", "every_customer_scored"}
    assert all(c.passed for c in checks)
    with warehouse.get_connection() as conn:
        scores = read_table(conn, "churn_scores.customer_risk")
        history = read_table(conn, HISTORY_TABLE)
    assert scores.height == 300 and scores["model_version"].unique().to_list() == ["1"]
    assert history.height == 300  # the re-run replaced its snapshot's slice
    (event,) = again.asset_materializations_for_node("churn__scores__customer_risk")
    assert event.metadata["dagster/row_count"].value == 300
    assert event.metadata["data_as_of"].value == str(scores["data_as_of"].max())
