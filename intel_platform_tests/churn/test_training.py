"""Churn training: the time split never leaks, LightGBM beats the logistic baseline on a
problem with an interaction, calibration fixes reweighted probabilities.

``synthetic_tables`` is the churn tests' shared generator (the other churn test modules import
it): weekly snapshots of the feature contract and matured / immature labels.
"""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from intel_platform.churn.training import (
    FEATURE_COLUMNS,
    TrainingParams,
    coefficients,
    feature_importance,
    label_window_days,
    labelled_snapshots,
    time_split,
    train_models,
)

START = date(2025, 1, 6)
DEFINITION = "no login and no renewal within 28 days of the snapshot"
PARAMS = TrainingParams(label_window_days=28, k=50, num_boost_round=100)
FLOATS = ("days_since_last_login", "login_change_wow", "login_trend_14d", "avg_session_minutes_30d",
          "discount_pct", "mrr", "activity_amount_30d")  # fmt: skip
INT16 = ("logins_7d", "logins_30d", "sessions_7d", "sessions_30d", "distinct_features_30d",
         "tickets_30d", "refund_requests_30d", "plan_changes_90d", "downgrades_90d",
         "billing_retries_30d")  # fmt: skip


def _features(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    logins_7d = rng.poisson(rng.choice([0.5, 6.0], n, p=[0.35, 0.65]))
    plan = rng.integers(0, 3, n)
    mrr = np.array([29.0, 99.0, 499.0])[plan] * rng.uniform(0.8, 1.2, n)
    last_login = np.where(logins_7d > 0, rng.integers(0, 7, n), rng.integers(7, 60, n))
    return {
        "days_since_last_login": np.where(rng.random(n) < 0.03, np.nan, last_login),
        "logins_7d": logins_7d, "logins_30d": logins_7d * 4 + rng.poisson(2, n),
        "sessions_7d": logins_7d + rng.poisson(1, n), "sessions_30d": logins_7d * 5,
        "login_change_wow": rng.normal(0, 0.3, n), "avg_session_minutes_30d": rng.gamma(2, 10, n),
        "distinct_features_30d": rng.integers(0, 12, n), "tickets_30d": rng.poisson(0.5, n),
        "refund_requests_30d": rng.poisson(0.15, n), "plan_code": plan,
        "plan_changes_90d": rng.poisson(0.2, n), "downgrades_90d": rng.poisson(0.1, n),
        "billing_retries_30d": rng.poisson(0.4, n), "tenure_days": rng.integers(5, 900, n),
        "discount_pct": rng.choice([0.0, 10.0, 20.0], n), "mrr": mrr,
        "activity_amount_30d": np.where(rng.random(n) < 0.2, np.nan, mrr * 0.5),
        "login_trend_14d": logins_7d / 6.0 - 1,  # no draw: the other columns keep their values
    }  # fmt: skip


def synthetic_tables(
    customers: int = 800, snapshots: int = 18, immature: int = 4, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Weekly snapshots; churn jumps only when usage is low AND payments fail (an interaction
    a linear model cannot draw) and for very new accounts (a threshold in tenure), so a tree
    model has something to win. The last ``immature`` snapshots have no label yet."""
    rng = np.random.default_rng(seed)
    n = customers * snapshots
    x = _features(rng, n)
    logit = (-3.4 + 3.2 * ((x["logins_7d"] <= 1) & (x["billing_retries_30d"] >= 1))
             + 1.2 * (x["refund_requests_30d"] >= 2) + 1.5 * (x["tenure_days"] < 45)
             - 0.4 * (x["plan_code"] == 2))  # fmt: skip
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    days = [START + timedelta(weeks=w) for w in range(snapshots) for _ in range(customers)]
    keys = {"customer_id": [f"C{i:05d}" for i in range(customers)] * snapshots,
            "snapshot_date": pl.Series(days, dtype=pl.Date)}  # fmt: skip
    features = pl.DataFrame({**keys, **x}).with_columns(
        pl.col(FLOATS).cast(pl.Float32).fill_nan(None),
        pl.col(INT16).cast(pl.Int16),
        pl.col("plan_code").cast(pl.Int8),
        pl.col("tenure_days").cast(pl.Int32),
    )
    matured = keys["snapshot_date"] < START + timedelta(weeks=snapshots - immature)
    labels = pl.DataFrame({**keys, "churned": churned, "matured": matured}).with_columns(
        churned=pl.when("matured").then("churned"), definition=pl.lit(DEFINITION)
    )
    return features.select("customer_id", "snapshot_date", *FEATURE_COLUMNS), labels


@pytest.fixture(scope="module")
def tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    return synthetic_tables()


@pytest.fixture(scope="module")
def trained(tables):
    return train_models(labelled_snapshots(*tables), PARAMS)


# --- split ---------------------------------------------------------------------------------


def test_only_matured_labels_are_training_rows(tables):
    features, labels = tables
    labelled = labelled_snapshots(features, labels)
    assert labelled["churned"].null_count() == 0
    assert labelled["snapshot_date"].max() == START + timedelta(weeks=13)
    assert labelled.height == 14 * 800


def test_mixed_label_definitions_are_refused(tables):
    features, labels = tables
    mixed = labels.with_columns(
        definition=pl.when(pl.col("snapshot_date") == START).then(pl.lit("cancelled"))
        .otherwise("definition")
    )  # fmt: skip
    with pytest.raises(ValueError, match="mix definitions"):
        labelled_snapshots(features, mixed)


def test_time_split_validates_last_and_no_label_window_overlaps_the_next_part(tables):
    split = time_split(
        labelled_snapshots(*tables), validation_snapshots=2, calibration_snapshots=1,
        label_window_days=28,
    )  # fmt: skip
    fit, calibration, validation = (split.dates(p) for p in ("fit", "calibration", "validation"))
    gap = timedelta(days=28)
    assert validation == [START + timedelta(weeks=12), START + timedelta(weeks=13)]
    assert max(calibration) + gap <= min(validation)
    assert max(fit) + gap <= min(calibration)
    assert calibration == [START + timedelta(weeks=8)]  # the newest date whose labels closed
    assert fit == [START + timedelta(weeks=w) for w in range(5)]
    customers = set(split.validation["customer_id"])
    assert customers == set(split.fit["customer_id"])  # same customers, later dates: by time


def test_the_label_window_is_read_from_maturity(tables):
    _, labels = tables
    assert label_window_days(labels) == 28  # 4 weekly snapshots still immature
    with pytest.raises(ValueError, match="set label_window_days"):
        label_window_days(labels.with_columns(matured=pl.lit(True)))


def test_time_split_says_what_is_missing_when_history_is_too_short(tables):
    short = labelled_snapshots(*tables).filter(
        pl.col("snapshot_date") >= START + timedelta(weeks=9)
    )
    with pytest.raises(ValueError, match="wait for more matured labels"):
        time_split(short, validation_snapshots=2, calibration_snapshots=1, label_window_days=28)


# --- models --------------------------------------------------------------------------------


def test_lightgbm_beats_the_logistic_baseline_on_an_interaction(trained):
    gbm, logistic = trained.metrics["lightgbm"], trained.metrics["logistic"]
    assert gbm["pr_auc"] > logistic["pr_auc"] + 0.05
    assert gbm["precision_at_k"] > logistic["precision_at_k"]
    assert logistic["pr_auc"] > 2 * logistic["prevalence"]  # the baseline beats chance
    assert gbm["k"] == 50


def test_calibration_repairs_the_reweighted_probabilities(trained):
    for kind in ("logistic", "lightgbm"):
        metrics = trained.metrics[kind]
        assert metrics["ece"] < metrics["ece_uncalibrated"] / 2, kind
        assert metrics["ece"] < 0.05
        table = trained.calibration[kind]
        assert table["n"].sum() == trained.split.validation.height and table.height == 10
    risk = trained.models["lightgbm"].predict(trained.split.validation)
    assert 0 <= risk.min() and risk.max() <= 1
    assert abs(risk.mean() - trained.metrics["lightgbm"]["prevalence"]) < 0.03


def test_importance_and_coefficients_point_at_the_true_causes(trained):
    gains = list(feature_importance(trained.models["lightgbm"]))
    assert {"billing_retries_30d", "tenure_days"} <= set(gains[:5])
    coefs = coefficients(trained.models["logistic"])
    assert coefs["num__billing_retries_30d"] > 0 and coefs["num__tenure_days"] < 0
    assert "cat__plan_code_2.0" in coefs


def test_comparison_puts_both_models_side_by_side(trained):
    table = trained.comparison()
    assert table.columns == ["metric", "logistic", "lightgbm"]
    assert {"pr_auc", "precision_at_k", "recall_at_k", "brier", "ece"} <= set(table["metric"])
