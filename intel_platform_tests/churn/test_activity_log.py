"""A user's own activity log, imported, runs the whole churn graph without billing or tickets:
inactivity defines churn, and scores and the outreach list come out the other end."""

from datetime import date, timedelta

import numpy as np
import polars as pl

from intel_platform.churn.definitions import defs as churn_defs
from intel_platform.churn.importers import import_activity
from intel_platform.core.runs import failed_steps, materialize_days
from intel_platform_tests.fixtures import query

START = date(2024, 1, 1)
DAYS = 280


def _purchase_log(customers: int = 600, seed: int = 3) -> pl.DataFrame:
    """Customers buy on random days; a third fade out (fewer purchases) and stop for good."""
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(customers):
        rate = rng.uniform(0.2, 0.8)
        stop = int(rng.integers(60, DAYS + 60)) if rng.random() < 0.35 else DAYS + 99
        for day in range(DAYS):
            fade = 0.25 if stop - 28 <= day < stop else 1.0
            if day < stop and rng.random() < rate * fade:
                rows.append((f"C{customer:04d}", (START + timedelta(day)).isoformat(),
                             float(rng.integers(5, 80))))  # fmt: skip
    return pl.DataFrame(rows, schema=["client", "bought_on", "total"], orient="row")


def test_an_imported_purchase_log_runs_to_scores_and_outreach(home, instance, tmp_path):
    log = tmp_path / "purchases.csv"
    _purchase_log().write_csv(log)
    summary = import_activity(home, log, customer_col="client", time_col="bought_on",
                              amount_col="total")  # fmt: skip
    last = START + timedelta(DAYS - 1)
    assert summary.last_date == last
    result = materialize_days(churn_defs(), instance, START, last)
    assert result.success, failed_steps(result)
    definitions = query(home, "SELECT DISTINCT definition FROM churn_labels.churn_label")
    assert definitions["definition"].to_list() == ["inactivity"]
    scores = query(home, "SELECT risk, driver_1, data_as_of FROM churn_scores.customer_risk")
    assert scores.height > 0 and scores["risk"].is_between(0, 1).all()
    assert scores["data_as_of"].unique().to_list() == [last]
    calls = query(home, "SELECT value_source FROM churn_decisions.outreach")
    assert calls.height > 0 and set(calls["value_source"]) == {"activity_amount_30d"}
