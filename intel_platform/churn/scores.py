"""Scores layer: every customer of the newest snapshot scored by the registered champion, with
the three drivers behind the score, the model version and ``data_as_of`` on every row. Each
issued scoring is archived (one slice per snapshot) for the feedback loop: once the labels
mature, the archive says what the model believed at the time. Blocking checks guard what the
outreach decision reads.

Drivers: the three features pushing a customer's risk up most (LightGBM SHAP values; a
feature that lowers risk is never given as a reason), phrased from the feature's value.
``DRIVERS`` is the one place mapping a feature to words and to an action; no action is ever
a discount (some churn is good churn, and a discount is not the team's first move anyway).
"""

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import numpy as np
import pandera.polars as pa
import polars as pl
from dagster_duckdb import DuckDBResource

from intel_platform.churn.models import EXPERIMENT, MODEL_NAMES, SNAPSHOT_KEY
from intel_platform.churn.training import KEYS, ChurnModel
from intel_platform.core.checks import CheckDefinition, completeness_outcome, contract_outcome
from intel_platform.core.metadata import markdown_table, table_metadata
from intel_platform.core.registry import (
    CHALLENGER,
    champion,
    data_version,
    load_champion,
    version_info,
)
from intel_platform.core.resources import MlflowResource
from intel_platform.core.warehouse import read_table, replace_partitions, replace_table, table_name

PLANS = {0: "basic", 1: "pro", 2: "enterprise"}
PRODUCT_CHECK_IN = "product check-in"
SUPPORT_CALL = "support call"
BILLING_FIX = "billing fix"
ACCOUNT_REVIEW = "account review"
ACTIONS = (PRODUCT_CHECK_IN, SUPPORT_CALL, BILLING_FIX, ACCOUNT_REVIEW)  # never a discount


@dataclass(frozen=True)
class Driver:
    """How a feature reads as a reason (``phrase(value)``, value None when unknown) and what
    the retention team does about it."""

    phrase: Callable[[Any], str]
    action: str


def _count(singular: str, plural: str, window: str) -> Callable[[Any], str]:
    def phrase(v: Any) -> str:
        if v is None:
            return f"{plural} in {window} unknown"
        return f"{v:.0f} {singular if round(v) == 1 else plural} in {window}"

    return phrase


def _change(v: Any) -> str:
    if v is None:
        return "no logins last week to compare with"
    return f"logins {'down' if v < 0 else 'up'} {abs(v) * 100:.0f} % week over week"


DRIVERS: dict[str, Driver] = {
    "days_since_last_login": Driver(
        lambda v: "never logged in" if v is None else f"no login for {v:.0f} days",
        PRODUCT_CHECK_IN),
    "logins_7d": Driver(_count("login", "logins", "the last 7 days"), PRODUCT_CHECK_IN),
    "logins_30d": Driver(_count("login", "logins", "30 days"), PRODUCT_CHECK_IN),
    "sessions_7d": Driver(_count("session", "sessions", "the last 7 days"), PRODUCT_CHECK_IN),
    "sessions_30d": Driver(_count("session", "sessions", "30 days"), PRODUCT_CHECK_IN),
    "login_change_wow": Driver(_change, PRODUCT_CHECK_IN),
    "login_trend_14d": Driver(
        lambda v: "no login baseline yet" if v is None
        else f"logins {'down' if v < 0 else 'up'} {abs(v) * 100:.0f} % in 2 weeks vs usual",
        PRODUCT_CHECK_IN),
    "avg_session_minutes_30d": Driver(
        lambda v: "no sessions in 30 days" if v is None else f"sessions average {v:.0f} min",
        PRODUCT_CHECK_IN),
    "distinct_features_30d": Driver(_count("feature used", "features used", "30 days"),
                                    PRODUCT_CHECK_IN),
    "tickets_30d": Driver(_count("support ticket", "support tickets", "30 days"), SUPPORT_CALL),
    "refund_requests_30d": Driver(_count("refund request", "refund requests", "30 days"),
                                  SUPPORT_CALL),
    "plan_code": Driver(
        lambda v: "plan unknown" if v is None else f"on the {PLANS.get(int(v), v)} plan",
        ACCOUNT_REVIEW),
    "plan_changes_90d": Driver(_count("plan change", "plan changes", "90 days"), ACCOUNT_REVIEW),
    "downgrades_90d": Driver(
        lambda v: "no plan history" if v is None
        else ("downgraded in last 90 days" if v >= 1 else "no downgrade in 90 days"),
        ACCOUNT_REVIEW),
    "billing_retries_30d": Driver(_count("failed payment retry", "failed payment retries",
                                         "30 days"), BILLING_FIX),
    "tenure_days": Driver(
        lambda v: "tenure unknown" if v is None else f"customer for {v:.0f} days",
        PRODUCT_CHECK_IN),
    "discount_pct": Driver(  # a percentage off the list MRR (0, 10-30)
        lambda v: "discount unknown" if v is None else f"on a {v:.0f} % discount",
        ACCOUNT_REVIEW),
    "mrr": Driver(lambda v: "revenue unknown" if v is None else f"MRR {v:,.0f}", ACCOUNT_REVIEW),
    "activity_amount_30d": Driver(
        lambda v: "no activity amount in 30 days" if v is None
        else f"activity worth {v:,.0f} in 30 days", PRODUCT_CHECK_IN),
}  # fmt: skip


def driver_text(feature: str, value: Any) -> str:
    """The readable reason for one driver; NaN counts as unknown."""
    if isinstance(value, float) and math.isnan(value):
        value = None
    driver = DRIVERS.get(feature)
    if driver is None:
        return f"{feature} = {value}"
    try:
        return driver.phrase(value)
    except (TypeError, ValueError):  # a None the phrase did not expect
        return f"{feature} unknown"


def explain(model: ChurnModel, rows: pl.DataFrame, *, top: int = 3) -> pl.DataFrame:
    """Per row: ``driver_1..top``, the features pushing its risk up most (LightGBM SHAP values
    via ``pred_contrib``, positive ones only, so a reason is never one that lowers risk;
    null when fewer push up), and ``action``, the action of the first driver (account review
    when nothing stands out). Keeps the key columns present in ``rows``, in row order."""
    values = model.contributions(rows)
    order = np.argsort(-values, axis=1, kind="stable")[:, :top]
    raw = rows.select(model.features).rows()
    texts: list[list[str | None]] = [[] for _ in range(top)]
    actions = []
    for i, picks in enumerate(order):
        pushing = [model.features[j] for j in picks if values[i, j] > 0]
        row = dict(zip(model.features, raw[i], strict=True))
        for k in range(top):
            texts[k].append(driver_text(pushing[k], row[pushing[k]]) if k < len(pushing) else None)
        first = DRIVERS.get(pushing[0]) if pushing else None
        actions.append(first.action if first else ACCOUNT_REVIEW)
    keys = [c for c in KEYS if c in rows.columns]
    drivers = {f"driver_{k + 1}": pl.Series(texts[k], dtype=pl.String) for k in range(top)}
    return rows.select(keys).with_columns(**drivers, action=pl.Series(actions, dtype=pl.String))


KEY = dg.AssetKey(["churn", "scores", "customer_risk"])
LIGHTGBM_KEY = dg.AssetKey(["churn", "models", "lightgbm"])
HISTORY_TABLE = "churn_scores.customer_risk_history"
MODEL_NAME = MODEL_NAMES["lightgbm"]
COLUMNS = ("customer_id", "snapshot_date", "risk", "risk_rank", "driver_1", "driver_2",
           "driver_3", "action", "model_version", "data_as_of", "scored_at")  # fmt: skip


class CustomerRiskModel(pa.DataFrameModel):
    """One row per customer of the scoring snapshot: what the outreach list is built from."""

    customer_id: str = pa.Field(unique=True)
    snapshot_date: pl.Date
    risk: pl.Float32 = pa.Field(ge=0, le=1)
    risk_rank: pl.Int32 = pa.Field(ge=1)
    driver_1: str = pa.Field(nullable=True)
    driver_2: str = pa.Field(nullable=True)
    driver_3: str = pa.Field(nullable=True)
    action: str = pa.Field(isin=list(ACTIONS))
    model_version: str
    data_as_of: pl.Date
    scored_at: pl.Datetime("us", "UTC")

    class Config:
        strict = True
        coerce = False


CHECKS = [
    CheckDefinition(
        KEY,
        "risk_contract",
        "Pandera CustomerRiskModel: risk in [0, 1], no nulls in required columns, one row per "
        "customer, a known action.",
        "Do not publish the outreach list: read sample_rows; a risk outside [0, 1] or a "
        "duplicated customer is a model or join bug (roll back: intel-platform model rollback "
        "churn_lightgbm), then re-materialize churn/scores/customer_risk.",
    ),
    CheckDefinition(
        KEY,
        "every_customer_scored",
        "Every customer of the scoring snapshot (the newest churn/features/customer_snapshot "
        "date) has a score.",
        "sample_rows lists customers without a score: check their feature rows in the newest "
        "snapshot, fix, re-materialize; the outreach list waits meanwhile.",
    ),
]


def scoring_snapshot(features: pl.DataFrame) -> pl.DataFrame:
    """The newest snapshot: its labels are immature, it is the one to act on."""
    return features.filter(pl.col("snapshot_date") == features["snapshot_date"].max())


def score_customers(
    snapshot: pl.DataFrame, model: ChurnModel, *, model_version: str, scored_at: datetime
) -> pl.DataFrame:
    """One row per customer: calibrated risk, rank (1 = riskiest; ties by customer_id),
    drivers and the action of the first driver. ``data_as_of`` is the snapshot's eve: the
    snapshot's features use complete days up to the day before it."""
    snapshot = snapshot.sort("customer_id")
    explained = explain(model, snapshot)
    scored = explained.with_columns(
        risk=pl.Series(model.predict(snapshot)).cast(pl.Float32),
        model_version=pl.lit(model_version),
        data_as_of=pl.col("snapshot_date") - pl.duration(days=1),
        scored_at=pl.lit(scored_at).dt.cast_time_unit("us").dt.convert_time_zone("UTC"),
    )
    ranks = pl.struct(-pl.col("risk"), "customer_id").rank("ordinal").cast(pl.Int32)
    return scored.with_columns(risk_rank=ranks).select(COLUMNS)


def score_outcomes(scores: pl.DataFrame, snapshot: pl.DataFrame) -> dict[str, Any]:
    """Both checks' outcomes, by check name."""
    return {
        "risk_contract": contract_outcome(CustomerRiskModel, scores),
        "every_customer_scored": completeness_outcome(
            scores, snapshot.select("customer_id", "snapshot_date"),
            keys=["customer_id", "snapshot_date"], partition_column="snapshot_date",
            max_missing_share=0.0,
        ),
    }  # fmt: skip


def no_champion_message(target: Any, model_name: str = MODEL_NAME) -> str:
    """Why nothing can be scored yet, with the latest gate verdict when there is one."""
    latest = version_info(target, model_name, CHALLENGER)
    why = (
        f" The latest challenger (version {latest.version}) was not promoted: "
        f"{latest.tags.get('gate.reason', 'no gate decision recorded')}."
        if latest is not None
        else " No version has been trained yet."
    )
    return (
        f"No champion for {model_name} yet: materialize churn/models/logistic and "
        f"churn/models/lightgbm and let the gate promote one.{why}"
    )


def load_scoring_model(mlflow: MlflowResource) -> tuple[ChurnModel, str]:
    """The champion from ``models:/churn_lightgbm@champion`` and its version; a clear failure
    (with the gate's last reason) before the first promotion."""
    target = mlflow.target(EXPERIMENT)
    serving = champion(target, MODEL_NAME)
    if serving is None:
        raise dg.Failure(description=no_champion_message(target))
    loaded = load_champion(target, MODEL_NAME, "pyfunc")
    return loaded.unwrap_python_model().model, serving.version


@dg.asset(
    key=KEY, group_name="churn_scores", owners=["team:churn"], code_version="1",
    deps=[SNAPSHOT_KEY, LIGHTGBM_KEY], kinds={"lightgbm", "mlflow", "duckdb"},
    check_specs=[c.spec for c in CHECKS],
)  # fmt: skip
def customer_risk(
    warehouse: DuckDBResource, mlflow: MlflowResource
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Churn risk of every customer of the newest snapshot from the champion, with drivers;
    the issued scores are archived per snapshot (a re-run replaces its own slice)."""
    model, version = load_scoring_model(mlflow)
    with warehouse.get_connection() as conn:
        snapshot = scoring_snapshot(read_table(conn, table_name(SNAPSHOT_KEY)))
    scores = score_customers(snapshot, model, model_version=version, scored_at=datetime.now(UTC))
    day: date = snapshot["snapshot_date"].max()
    with warehouse.get_connection() as conn:
        replace_table(conn, table_name(KEY), scores)
        replace_partitions(conn, HISTORY_TABLE, scores, partition_column="snapshot_date",
                           first=day, last=day)  # fmt: skip
    yield dg.MaterializeResult(
        metadata=_metadata(scores, version), data_version=dg.DataVersion(data_version(scores))
    )
    outcomes = score_outcomes(scores, snapshot)
    for check in CHECKS:
        yield check.result(outcomes[check.name])


def _metadata(scores: pl.DataFrame, version: str) -> dict[str, Any]:
    top = scores.sort("risk_rank").head(10).select("customer_id", "risk", "driver_1", "action")
    return {
        **table_metadata(scores.height, scores.schema),
        "model_version": version,
        "snapshot_date": str(scores["snapshot_date"].max()),
        "data_as_of": str(scores["data_as_of"].max()),
        "mean_risk": float(scores["risk"].mean() or 0.0),
        "customers_over_half": int((scores["risk"] >= 0.5).sum()),
        "top_risks": dg.MetadataValue.md(markdown_table(top)),
    }
