import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from intel_platform.core.metrics import bias, forecast_metrics, mape, psi, rmse, wape

# Hand-computed: pairs (10, 8), (0, 2), (5, 6); the last row has no actual and is left out.
# |a - f| = 2, 2, 1 -> WAPE 5/15; MAPE over a != 0: (2/10 + 1/5) / 2 = 0.2;
# RMSE sqrt((4 + 4 + 1) / 3) = sqrt(3); bias (-2 + 2 + 1) / 15 = 1/15.
FRAME = pl.DataFrame(
    {
        "group": ["a", "a", "b", "b"],
        "actual": [10.0, 0.0, 5.0, None],
        "forecast": [8.0, 2.0, 6.0, 1.0],
    }
)


def test_forecast_metrics_overall_matches_hand_computed_numbers():
    expected = pl.DataFrame(
        {"n": [3], "wape": [1 / 3], "mape": [0.2], "rmse": [math.sqrt(3)], "bias": [1 / 15]}
    )
    assert_frame_equal(forecast_metrics(FRAME), expected)


def test_forecast_metrics_per_group_one_row_each_sorted():
    expected = pl.DataFrame(
        {
            "group": ["a", "b"],
            "n": [2, 1],
            "wape": [0.4, 0.2],
            "mape": [0.2, 0.2],
            "rmse": [2.0, 1.0],
            "bias": [0.0, 0.2],
        }
    )
    assert_frame_equal(forecast_metrics(FRAME.lazy(), by=["group"]), expected)


def test_mape_skips_zero_actuals_and_bias_sign_follows_over_forecast():
    frame = pl.DataFrame({"a": [0.0, 4.0, 2.0], "f": [3.0, 5.0, 3.0]})
    out = frame.select(mape("a", "f"), bias("a", "f"), wape("a", "f"), rmse("a", "f"))
    assert out["mape"][0] == pytest.approx((1 / 4 + 1 / 2) / 2)
    assert out["bias"][0] == pytest.approx(5 / 6)  # over-forecast: positive
    under = frame.select(bias("a", "a")).item()
    assert under == 0.0
    assert frame.select(bias("f", "a")).item() < 0  # roles swapped: under-forecast


def test_ratios_with_zero_denominator_are_null_not_inf():
    frame = pl.DataFrame({"actual": [0.0, 0.0], "forecast": [1.0, 2.0]})
    out = forecast_metrics(frame)
    assert out["wape"][0] is None
    assert out["bias"][0] is None
    assert out["mape"][0] is None
    assert out["rmse"][0] == pytest.approx(math.sqrt(2.5))


def test_psi_is_zero_for_identical_numeric_distributions():
    sample = pl.Series(np.random.default_rng(0).normal(size=2_000))
    assert psi(sample, sample) == 0.0
    resample = pl.Series(np.random.default_rng(1).normal(size=2_000))
    assert psi(sample, resample) < 0.05


def test_psi_flags_a_clearly_shifted_distribution():
    rng = np.random.default_rng(0)
    expected = pl.Series(rng.normal(0, 1, 2_000))
    shifted = pl.Series(rng.normal(1.5, 1, 2_000))
    assert psi(expected, shifted) > 0.3


def test_psi_categorical_uses_category_frequencies():
    before = pl.Series(["Grocery"] * 50 + ["Hobbies"] * 50)
    assert psi(before, before.sample(fraction=1.0, shuffle=True, seed=0)) == 0.0
    after = pl.Series(["Grocery"] * 90 + ["Hobbies"] * 5 + ["Apparel"] * 5)
    assert psi(before, after) > 0.3


def test_psi_treats_a_surge_of_nulls_as_drift():
    # The silent rename: the column still arrives, but as nulls.
    expected = pl.Series([1.0, 2.0, 3.0, 4.0] * 25)
    actual = pl.Series([1.0, 2.0, None, None] * 25)
    assert psi(expected, actual) > 0.3


def test_psi_rejects_an_empty_sample():
    with pytest.raises(ValueError, match="non-empty"):
        psi(pl.Series([], dtype=pl.Float64), pl.Series([1.0]))


# --- classification ------------------------------------------------------------------------

# Ranked by score: 0.9 (1), 0.8 (0), 0.7 (1), 0.4 (0), 0.2 (1), 0.1 (0); 3 positives.
LABELS = [1, 0, 1, 0, 1, 0]
SCORES = [0.9, 0.8, 0.7, 0.4, 0.2, 0.1]


def test_precision_and_recall_at_k_by_hand():
    from intel_platform.core.metrics import precision_at_k, recall_at_k

    assert precision_at_k(LABELS, SCORES, 1) == 1.0
    assert precision_at_k(LABELS, SCORES, 2) == 0.5
    assert precision_at_k(LABELS, SCORES, 3) == pytest.approx(2 / 3)
    assert recall_at_k(LABELS, SCORES, 3) == pytest.approx(2 / 3)
    assert precision_at_k(LABELS, SCORES, 100) == 0.5  # fewer rows than k: all of them
    assert recall_at_k(LABELS, SCORES, 100) == 1.0
    assert math.isnan(recall_at_k([0, 0], [0.3, 0.2], 1))
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(LABELS, SCORES, 0)


def test_average_precision_by_hand_and_against_sklearn_with_ties():
    from sklearn.metrics import average_precision_score, roc_auc_score

    from intel_platform.core.metrics import average_precision, roc_auc

    # Positives at ranks 1, 3, 5: (1/3) * (1 + 2/3 + 3/5).
    assert average_precision(LABELS, SCORES) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # 9 positive-negative pairs, 6 ordered right: 0.9 > all three, 0.7 > two, 0.2 > one.
    assert roc_auc(LABELS, SCORES) == pytest.approx(6 / 9)
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.random(300), 1)  # many ties
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s))
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))
    assert math.isnan(average_precision([0, 0], [0.1, 0.2]))
    assert math.isnan(roc_auc([1, 1], [0.1, 0.2]))


def test_a_random_ranking_scores_the_positive_rate():
    from intel_platform.core.metrics import average_precision

    rng = np.random.default_rng(0)
    y = rng.random(20_000) < 0.1
    assert average_precision(y, rng.random(20_000)) == pytest.approx(y.mean(), abs=0.01)


def test_brier_calibration_table_and_ece_by_hand():
    from intel_platform.core.metrics import (
        brier_score,
        calibration_table,
        expected_calibration_error,
    )

    labels, probs = [0, 0, 1, 1], [0.1, 0.3, 0.6, 1.0]
    assert brier_score(labels, probs) == pytest.approx((0.01 + 0.09 + 0.16 + 0.0) / 4)
    expected = pl.DataFrame(
        {"bin": [1, 2], "n": [2, 2], "mean_predicted": [0.2, 0.8], "observed_rate": [0.0, 1.0]}
    )
    assert_frame_equal(calibration_table(labels, probs, bins=2), expected)
    # |0.2 - 0| and |0.8 - 1|, each bin half of the rows.
    assert expected_calibration_error(labels, probs, bins=2) == pytest.approx(0.2)


def test_classification_metrics_average_top_k_per_list():
    from intel_platform.core.metrics import classification_metrics

    frame = pl.DataFrame(
        {
            "week": [1, 1, 1, 2, 2, 2],
            "y": [1, 0, 0, 0, 1, 1],
            "p": [0.9, 0.5, 0.1, 0.8, 0.7, None],  # the null score is left out
        }
    )
    metrics = classification_metrics(frame, label="y", score="p", k=1, by="week")
    assert metrics["rows"] == 5 and metrics["positives"] == 2
    assert metrics["precision_at_k"] == 0.5  # week 1 right, week 2 wrong
    assert metrics["recall_at_k"] == 0.5  # week 1: 1/1, week 2: 0/1
    pooled = classification_metrics(frame, label="y", score="p", k=2)
    assert pooled["precision_at_k"] == 0.5  # 0.9 (1), 0.8 (0)
