"""Churn monitoring: is the serving model still right about the customers? (DOMAIN.md, "the
slow drift"). Two tables and one sensor close the loop drift or decay -> retrain -> gate:

- ``churn/monitoring/feature_drift``: PSI of every watched feature of the newest customer
  snapshot against the snapshots the champion ``churn_lightgbm`` was trained on (its MLflow
  params ``train_first_snapshot``..``train_last_snapshot``, else ``fit_start``..``fit_end``).
- ``churn/monitoring/realized_churn``: the feedback loop. Archived risk scores joined with the
  labels that have matured since: realized churn rate, mean predicted risk (calibration),
  PR-AUC and precision at the retention team's capacity K, per scored snapshot and model
  version; the champion more than 10 % below its validation PR-AUC (MLflow metric
  ``val_pr_auc``, else ``pr_auc``) is decay.
- ``churn_retrain_sensor`` (``core.retrain``): one retraining run per new verdict asking for it.

Pure functions first (frames in, frames out), assets below.
"""

import math
from datetime import date, timedelta

import dagster as dg
import duckdb
import polars as pl
from dagster_duckdb import DuckDBResource

from intel_platform.churn.models import EXPERIMENT, MODEL_NAMES
from intel_platform.churn.scores import HISTORY_TABLE
from intel_platform.core import drift as core_drift
from intel_platform.core.metadata import markdown_table, table_metadata
from intel_platform.core.metrics import average_precision, brier_score, precision_at_k, recall_at_k
from intel_platform.core.registry import ChampionInfo, champion
from intel_platform.core.resources import MlflowResource
from intel_platform.core.retrain import build_retrain_sensor, nothing_to_compare, verdict
from intel_platform.core.warehouse import replace_table, table_exists, table_name

KEY_PREFIX = ["churn", "monitoring"]
GROUP = "churn_monitoring"
OWNERS = ["team:churn"]
CHAMPION_MODEL = MODEL_NAMES["lightgbm"]  # the model that scores: its champion is judged
FEATURES_KEY = dg.AssetKey(["churn", "features", "customer_snapshot"])
SCORES_KEY = dg.AssetKey(["churn", "scores", "customer_risk"])
LABELS_KEY = dg.AssetKey(["churn", "labels", "churn_label"])
DRIFT_KEY = dg.AssetKey([*KEY_PREFIX, "feature_drift"])
REALIZED_KEY = dg.AssetKey([*KEY_PREFIX, "realized_churn"])
RETRAIN_KEYS = [
    dg.AssetKey(path.split("/"))
    for path in ("churn/models/logistic", "churn/models/lightgbm", "churn/scores/customer_risk",
                 "churn/decisions/outreach")
]  # fmt: skip
RETRAIN_SELECTION = dg.AssetSelection.assets(*RETRAIN_KEYS)
# The op(s) whose config takes ``retrain_reason``: ``churn/models/{logistic,lightgbm}`` are one
# multi-asset step, ``churn_models`` (churn/models.py); a run config naming an op that is not in
# the job is rejected at launch, so this must follow that module.
RETRAIN_OPS = ("churn_models",)
# The champion's validation PR-AUC as the trainer logs it (evaluate() -> ``pr_auc``);
# ``val_pr_auc`` is read first should the run log it under that name.
VALIDATION_METRICS = ("val_pr_auc", "pr_auc")
# Columns of the snapshot table that are the grain or bookkeeping, never a model feature.
NOT_FEATURES = ("customer_id", "snapshot_date", "data_as_of", "churned", "matured", "definition")
CLOCK_FEATURES = ("tenure_days",)
_GRAIN = ["customer_id", "snapshot_date"]
DRIFT_SCHEMA = {
    "feature": pl.String, "kind": pl.String, "psi": pl.Float64, "status": pl.String,
    "reference_first": pl.Date, "reference_last": pl.Date, "reference_rows": pl.Int64,
    "snapshot_date": pl.Date, "snapshot_rows": pl.Int64, "champion_version": pl.String,
    "data_as_of": pl.Date,
}  # fmt: skip
REALIZED_SCHEMA = {
    "snapshot_date": pl.Date, "model_version": pl.String, "customers": pl.Int64,
    "churners": pl.Int64, "churn_rate": pl.Float64, "mean_risk": pl.Float64,
    "calibration_gap": pl.Float64, "brier": pl.Float64, "pr_auc": pl.Float64, "k": pl.Int64,
    "precision_at_k": pl.Float64, "recall_at_k": pl.Float64,
}  # fmt: skip
JUDGED_SCHEMA = {
    **REALIZED_SCHEMA, "val_pr_auc": pl.Float64, "pr_auc_vs_val": pl.Float64,
    "decay": pl.Boolean, "champion_version": pl.String, "data_as_of": pl.Date,
}  # fmt: skip


class ChurnDriftConfig(dg.Config):
    """PSI thresholds (DOMAIN.md), the reference sample's bound, and the watched features
    (empty: the features the champion was trained on, from its MLflow ``features`` param)."""

    warn_psi: float = 0.2
    retrain_psi: float = 0.3
    bins: int = 10
    max_rows: int = 500_000
    seed: int = 0
    features: list[str] = []


class RealizedChurnConfig(dg.Config):
    """The retention team's capacity K, the decay tolerance (DOMAIN.md: 10 %), and the least
    evidence a verdict needs: PR-AUC on a handful of churners is noise."""

    k: int = 200
    pr_auc_tolerance: float = 0.10
    min_customers: int = 100
    min_churners: int = 5


# --- pure ------------------------------------------------------------------------------------


def reference_window(info: ChampionInfo | None) -> tuple[date, date] | None:
    """The champion's training snapshots: params (else tags) ``train_first_snapshot`` ..
    ``train_last_snapshot``, else the split's ``fit_start`` .. ``fit_end``. None before the
    first champion or for one that logged neither: there is then nothing to drift from."""
    if info is None:
        return None
    logged = {**info.tags, **info.params}
    for first, last in (("train_first_snapshot", "train_last_snapshot"), ("fit_start", "fit_end")):
        try:
            return date.fromisoformat(logged[first][:10]), date.fromisoformat(logged[last][:10])
        except (KeyError, ValueError):
            continue
    return None


def validation_pr_auc(info: ChampionInfo | None) -> float | None:
    """The champion's promise: its validation PR-AUC (``VALIDATION_METRICS``), None if absent."""
    logged = info.metrics if info else {}
    return next((float(logged[m]) for m in VALIDATION_METRICS if m in logged), None)


def watched_features(
    columns: dict[str, pl.DataType], configured: list[str], info: ChampionInfo | None
) -> list[str]:
    """``configured``, else the champion's logged feature list (``features`` param), else every
    column that is not grain or bookkeeping; always restricted to the table's columns. Left
    out unless configured: ``CLOCK_FEATURES``, which move with the calendar by construction
    (a cohort's tenure grows a week per week): that is ageing, not a changed world."""
    usable = [c for c in configured if c in columns and c not in NOT_FEATURES]
    if usable:
        return usable
    logged = (info.params.get("features", "") if info else "").split(",")
    for candidates in (logged, list(columns)):
        chosen = [c for c in candidates if c in columns and c not in NOT_FEATURES + CLOCK_FEATURES]
        if chosen:
            return chosen
    return []


def snapshot_drift(
    reference: pl.DataFrame,
    snapshot: pl.DataFrame,
    features: list[str],
    *,
    warn: float = 0.2,
    retrain: float = 0.3,
    bins: int = 10,
) -> pl.DataFrame:
    """PSI per feature, one snapshot against the training snapshots (``core.drift``); codes
    (``*_code``, e.g. plan_code) and text columns compare as categories, not as numbers."""
    codes = [f for f in features if f.endswith("_code")]
    return core_drift.feature_drift(
        reference, snapshot, features, warn=warn, retrain=retrain, bins=bins, categorical=codes
    )


def _defined(value: float) -> float | None:
    """core.metrics says NaN for undefined (no churner); a table says null."""
    return None if math.isnan(value) else value


def _group_metrics(group: pl.DataFrame, k: int) -> dict:
    """One scored snapshot's numbers (``core.metrics``); ties in risk keep rank order."""
    churned = group["churned"].cast(pl.Float64).to_numpy()
    risk = group["risk"].cast(pl.Float64).to_numpy()
    churners, customers = int(churned.sum()), group.height
    return {
        "customers": customers,
        "churners": churners,
        "churn_rate": churners / customers,
        "mean_risk": float(risk.mean()),
        "calibration_gap": float(risk.mean()) - churners / customers,
        "brier": brier_score(churned, risk),
        "pr_auc": _defined(average_precision(churned, risk)),
        "k": min(k, customers),
        "precision_at_k": _defined(precision_at_k(churned, risk, k)),
        "recall_at_k": _defined(recall_at_k(churned, risk, k)),
    }


def realized_metrics(scores: pl.DataFrame, labels: pl.DataFrame, *, k: int = 200) -> pl.DataFrame:
    """One row per scored snapshot and model version, over the customers whose label has
    matured: customers, churners, churn_rate, mean_risk (calibration_gap = mean_risk -
    churn_rate; brier), pr_auc, precision_at_k and recall_at_k at ``k`` (capped at the
    customers), the retention team's weekly list.
    ``scores``: customer_id, snapshot_date, risk, model_version (risk_rank orders ties);
    ``labels``: customer_id, snapshot_date, churned, matured. An immature label is unknown,
    not "stayed": those customers are left out."""
    keys = [pl.col("customer_id").cast(pl.String), pl.col("snapshot_date")]
    truth = labels.filter(pl.col("matured") & pl.col("churned").is_not_null())
    truth = truth.select(*keys, pl.col("churned").cast(pl.Boolean))
    ranked = scores.sort("risk_rank") if "risk_rank" in scores.columns else scores
    scored = ranked.select(*keys, "risk", pl.col("model_version").cast(pl.String)).unique(
        [*_GRAIN, "model_version"], keep="first", maintain_order=True
    )  # a snapshot re-scored by the same version counts once
    joined = scored.join(truth, on=_GRAIN, how="inner", maintain_order="left")
    rows = [
        {"snapshot_date": snapshot, "model_version": version, **_group_metrics(group, k)}
        for (snapshot, version), group in joined.group_by(
            ["snapshot_date", "model_version"], maintain_order=True
        )
    ]
    out = pl.DataFrame(rows, schema=REALIZED_SCHEMA)
    return out.sort(["snapshot_date", "model_version"])


def judge_realized(
    realized: pl.DataFrame,
    val_pr_auc: float | None,
    champion_version: str | None,
    config: RealizedChurnConfig,
) -> tuple[pl.DataFrame, bool, str]:
    """Every row against the champion's validation PR-AUC (``decay`` when more than
    ``pr_auc_tolerance`` below it); the verdict judges only the champion's own newest snapshot
    with enough evidence: an older version's scores cannot ask a fresh champion to retrain."""
    reference = pl.lit(val_pr_auc, dtype=pl.Float64)
    judged = realized.with_columns(
        val_pr_auc=reference,
        pr_auc_vs_val=pl.col("pr_auc") / reference - 1,
        decay=(pl.col("pr_auc") < (1 - config.pr_auc_tolerance) * reference).fill_null(False),
    )
    mine = judged.filter(
        (pl.col("model_version") == str(champion_version))
        & (pl.col("customers") >= config.min_customers)
        & (pl.col("churners") >= config.min_churners)
    )
    if mine.is_empty() or val_pr_auc is None:
        return judged, False, ""
    row = mine.row(-1, named=True)
    if not row["decay"]:
        return judged, False, ""
    detail = (
        f"champion v{champion_version} on snapshot {row['snapshot_date']} "
        f"({row['customers']} customers, {row['churners']} churners): PR-AUC "
        f"{row['pr_auc']:.3f} is {row['pr_auc_vs_val']:+.0%} vs validation {val_pr_auc:.3f}; "
        f"precision@{row['k']} {row['precision_at_k']:.2f}"
    )
    return judged, True, detail


# --- assets ----------------------------------------------------------------------------------


def _drift_inputs(
    conn: duckdb.DuckDBPyConnection,
    window: tuple[date, date],
    config: ChurnDriftConfig,
    info: ChampionInfo,
) -> tuple[pl.DataFrame, pl.DataFrame, date] | str:
    """(reference sample, newest snapshot, its date) or the reason there is nothing to compare.
    The reference is a seeded reservoir sample of at most ``max_rows`` rows of the training
    snapshots, drawn inside DuckDB so years of snapshots never sit in memory."""
    table = table_name(FEATURES_KEY)
    if not table_exists(conn, table):
        return f"no {table} table yet: nothing to compare"
    columns = dict(conn.execute(f"SELECT * FROM {table} LIMIT 0").pl().schema)
    features = watched_features(columns, list(config.features), info)
    newest = conn.execute(f"SELECT max(snapshot_date) FROM {table}").fetchone()[0]
    if newest is None or newest <= window[1]:
        return "no snapshot after the training window: nothing to compare"
    selected = ", ".join(f'"{c}"' for c in features)
    in_window = f"SELECT {selected} FROM {table} WHERE snapshot_date BETWEEN ? AND ?"
    sample = f"reservoir({int(config.max_rows)} ROWS) REPEATABLE ({int(config.seed)})"
    reference = conn.execute(f"SELECT * FROM ({in_window}) USING SAMPLE {sample}", window).pl()
    snapshot = conn.execute(
        f"SELECT {selected} FROM {table} WHERE snapshot_date = ?", [newest]
    ).pl()
    if reference.is_empty():
        return "no rows in the training snapshots: nothing to compare"
    return reference, snapshot, newest


@dg.asset(
    key=DRIFT_KEY, group_name=GROUP, owners=OWNERS, code_version="1",
    deps=[FEATURES_KEY], kinds={"polars", "duckdb", "mlflow"},
)  # fmt: skip
def feature_drift(
    config: ChurnDriftConfig, warehouse: DuckDBResource, mlflow: MlflowResource
) -> dg.MaterializeResult:
    """Have the customers moved away from what the champion learned? PSI per watched feature,
    newest snapshot vs the champion's training snapshots. Over ``retrain_psi`` asks the
    retrain sensor for a retraining ("drift"); no champion means nothing to compare."""
    info = champion(mlflow.target(EXPERIMENT), CHAMPION_MODEL)
    window = reference_window(info)
    if info is None or window is None:
        why = "no champion yet" if info is None else "champion logged no training snapshots"
        why = f"{why}: nothing to compare"
        return nothing_to_compare(warehouse, DRIFT_KEY, DRIFT_SCHEMA, why, info)
    with warehouse.get_connection() as conn:
        inputs = _drift_inputs(conn, window, config, info)
    if isinstance(inputs, str):
        return nothing_to_compare(warehouse, DRIFT_KEY, DRIFT_SCHEMA, inputs, info)
    reference, snapshot, newest = inputs
    drift = snapshot_drift(reference, snapshot, reference.columns, warn=config.warn_psi,
                           retrain=config.retrain_psi, bins=config.bins)  # fmt: skip
    as_of = newest - timedelta(days=1)  # snapshot T sees the days before T
    out = drift.with_columns(
        reference_first=window[0], reference_last=window[1], reference_rows=reference.height,
        snapshot_date=newest, snapshot_rows=snapshot.height,
        champion_version=pl.lit(info.version), data_as_of=as_of,
    ).cast(DRIFT_SCHEMA)  # fmt: skip
    with warehouse.get_connection() as conn:
        replace_table(conn, table_name(DRIFT_KEY), out)
    requested, detail = core_drift.drift_decision(out)
    return dg.MaterializeResult(metadata=_drift_metadata(out, requested, detail, info))


def _drift_metadata(out: pl.DataFrame, requested: bool, detail: str, info: ChampionInfo) -> dict:
    """The numbers on-call reads in the UI without opening the table, and the verdict."""
    first = out.row(0, named=True)
    return {
        **core_drift.drift_summary(out),
        "reference_window": f"{first['reference_first']}..{first['reference_last']}",
        "snapshot_date": str(first["snapshot_date"]),
        **verdict(requested, "drift", detail, info.version, first["data_as_of"]),
    }


def _feedback(conn: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, pl.DataFrame] | str:
    """Archived scores of the snapshots with matured labels, and those labels."""
    labels_table = table_name(LABELS_KEY)
    for table in (HISTORY_TABLE, labels_table):
        if not table_exists(conn, table):
            return f"no {table} table yet: nothing to compare"
    matured = f"FROM {labels_table} WHERE matured AND churned IS NOT NULL"
    labels = conn.execute(f"SELECT customer_id, snapshot_date, churned, matured {matured}").pl()
    columns = conn.execute(f"SELECT * FROM {HISTORY_TABLE} LIMIT 0").pl().columns
    wanted = [c for c in ("customer_id", "snapshot_date", "risk", "risk_rank", "model_version")
              if c in columns]  # fmt: skip
    scores = conn.execute(
        f"SELECT {', '.join(wanted)} FROM {HISTORY_TABLE} "
        f"WHERE snapshot_date IN (SELECT DISTINCT snapshot_date {matured})"
    ).pl()
    return scores, labels


@dg.asset(
    key=REALIZED_KEY, group_name=GROUP, owners=OWNERS, code_version="1",
    deps=[SCORES_KEY, LABELS_KEY], kinds={"polars", "duckdb", "mlflow"},
)  # fmt: skip
def realized_churn(
    config: RealizedChurnConfig, warehouse: DuckDBResource, mlflow: MlflowResource
) -> dg.MaterializeResult:
    """Were the customers we flagged the ones who left? Every archived score whose label has
    matured, per snapshot and model version: realized churn rate, mean predicted risk, PR-AUC
    and precision@K. The champion's newest judged snapshot more than ``pr_auc_tolerance``
    below its validation PR-AUC asks the retrain sensor for a retraining ("decay")."""
    info = champion(mlflow.target(EXPERIMENT), CHAMPION_MODEL)
    with warehouse.get_connection() as conn:
        inputs = _feedback(conn)
    if isinstance(inputs, str):
        return nothing_to_compare(warehouse, REALIZED_KEY, JUDGED_SCHEMA, inputs, info)
    realized = realized_metrics(*inputs, k=config.k)
    if realized.is_empty():
        why = "no scored customer has a matured label yet: nothing to compare"
        return nothing_to_compare(warehouse, REALIZED_KEY, JUDGED_SCHEMA, why, info)
    version = info.version if info else None
    val = validation_pr_auc(info)
    judged, requested, detail = judge_realized(realized, val, version, config)
    # data_as_of here is the evidence's date: the newest snapshot whose labels have matured.
    out = judged.with_columns(
        champion_version=pl.lit(version, dtype=pl.String),
        data_as_of=pl.lit(realized["snapshot_date"].max(), dtype=pl.Date),
    ).cast(JUDGED_SCHEMA)  # fmt: skip
    with warehouse.get_connection() as conn:
        replace_table(conn, table_name(REALIZED_KEY), out)
    return dg.MaterializeResult(metadata=_realized_metadata(out, requested, detail, version))


def _realized_metadata(
    out: pl.DataFrame, requested: bool, detail: str, version: str | None
) -> dict:
    """The champion's newest snapshot's numbers (else the newest row's), every snapshot as a
    markdown table, and the verdict."""
    mine = out.filter(pl.col("model_version") == str(version))
    newest = (mine if not mine.is_empty() else out).row(-1, named=True)
    shown = ["snapshot_date", "model_version", "customers", "churn_rate", "mean_risk", "pr_auc",
             "precision_at_k", "decay"]  # fmt: skip
    numbers = ["churn_rate", "mean_risk", "pr_auc", "precision_at_k", "val_pr_auc"]
    return {
        **table_metadata(out.height, out.schema),
        "status": "evaluated",
        "matured_customers": int(out["customers"].sum()),
        **{k: float(newest[k]) for k in numbers if newest[k] is not None},
        "by_snapshot": dg.MetadataValue.md(markdown_table(out.select(shown).reverse(), limit=40)),
        **verdict(requested, "decay", detail, version, newest["data_as_of"]),
    }


churn_retrain_sensor = build_retrain_sensor(
    "churn",
    [DRIFT_KEY, REALIZED_KEY],
    RETRAIN_SELECTION,
    RETRAIN_OPS,
    description="Drift or decay -> one retraining run (both models, scores, outreach) through "
    "the gate; the reason goes to the run's tags and to MLflow.",
    owners=OWNERS,
)

SENSORS = [churn_retrain_sensor]
