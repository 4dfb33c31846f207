"""Models layer: the logistic baseline and LightGBM trained on the same time split, each
logged to MLflow as its own registered model and promoted only through the gate.

Training and evaluation are in ``training.py``; this module only orchestrates. One step
trains both, so LightGBM is judged against the logistic model on the same validation rows:
``churn_lightgbm`` must beat the logistic PR-AUC by ``gate_margin`` (and the champion's, unless
it is a refit of the champion's spec); ``churn_logistic`` must beat the PR-AUC of a random
ranking, the validation positive rate.
"""

import hashlib
from collections.abc import Iterator
from importlib.metadata import version as installed
from typing import Any

import dagster as dg
import pandas as pd
import polars as pl
from dagster_duckdb import DuckDBResource

from intel_platform.churn.training import (
    FEATURE_COLUMNS,
    ChurnModel,
    TrainingParams,
    TrainingResult,
    coefficients,
    feature_importance,
    label_window_days,
    labelled_snapshots,
    train_models,
)
from intel_platform.core.gate import GatedVersion, register_and_gate
from intel_platform.core.metadata import markdown_table, table_metadata
from intel_platform.core.registry import TrainingRun, data_version
from intel_platform.core.resources import MlflowResource
from intel_platform.core.warehouse import read_table, replace_table, table_name

KEY_PREFIX = ["churn", "models"]
GROUP = "churn_models"
OWNERS = ["team:churn"]
EXPERIMENT = "churn"
SNAPSHOT_KEY = dg.AssetKey(["churn", "features", "customer_snapshot"])
LABEL_KEY = dg.AssetKey(["churn", "labels", "churn_label"])
MODEL_NAMES = {"logistic": "churn_logistic", "lightgbm": "churn_lightgbm"}
GATE_METRIC = "pr_auc"
COMPARISON_TABLE = "churn_models.comparison"  # both models on the newest validation rows
# A new value of any of these is a new spec: the challenger must also beat the champion.
SPECS = {
    "logistic": ("logistic_c", "feature_set", "calibration", "label_definition"),
    "lightgbm": ("num_boost_round", "learning_rate", "num_leaves", "min_child_samples",
                 "subsample", "colsample", "l2", "feature_set", "calibration",
                 "label_definition"),
}  # fmt: skip


class ChurnModelConfig(dg.Config):
    """Split, model and gate tunables; ``retrain_reason`` travels into MLflow. ``capacity_k``
    is the retention team's weekly list size (reported, never scaled silently).
    ``label_window_days`` is the split's gap; unset, it is read from the labels' maturity
    (``training.label_window_days``); set, it must cover the label definition's reach."""

    capacity_k: int = 200
    validation_snapshots: int = 4
    calibration_snapshots: int = 1
    label_window_days: int | None = None
    num_boost_round: int = 300
    learning_rate: float = 0.03
    num_leaves: int = 7
    gate_margin: float = 0.02
    retrain_reason: str = "manual"


def training_params(config: ChurnModelConfig, label_window: int | None = None) -> TrainingParams:
    """The config as training parameters; the gap is the configured ``label_window_days``,
    else ``label_window`` (read from the labels)."""
    window = config.label_window_days or label_window
    if window is None:
        raise ValueError("label_window_days is not configured and was not read from the labels")
    return TrainingParams(
        validation_snapshots=config.validation_snapshots,
        calibration_snapshots=config.calibration_snapshots,
        label_window_days=window, k=config.capacity_k,
        num_boost_round=config.num_boost_round, learning_rate=config.learning_rate,
        num_leaves=config.num_leaves,
    )  # fmt: skip


def read_inputs(warehouse: DuckDBResource) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The feature snapshots and labels, sorted by grain so their data versions are stable."""
    with warehouse.get_connection() as conn:
        features = read_table(conn, table_name(SNAPSHOT_KEY))
        labels = read_table(conn, table_name(LABEL_KEY))
    keys = ["customer_id", "snapshot_date"]
    return features.sort(keys), labels.sort(keys)


def as_pyfunc(model: ChurnModel) -> Any:
    """The calibrated model as an MLflow pyfunc (pandas feature rows in, ``risk`` out), so
    scoring loads ``models:/<name>@champion``. The class is built here, not at module level,
    so loading the code location never imports MLflow; cloudpickle stores it by value."""
    import mlflow.pyfunc  # noqa: PLC0415

    class ChurnPyfunc(mlflow.pyfunc.PythonModel):
        def __init__(self, model: ChurnModel):
            self.model = model

        def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ARG002
            return pd.DataFrame({"risk": self.model.predict(pl.from_pandas(model_input))})

    return ChurnPyfunc(model)


def pip_requirements() -> list[str]:
    """Pinned model libraries (a pickled estimator loads only with the version that wrote it)."""
    pinned = [f"{name}=={installed(name)}" for name in ("lightgbm", "scikit-learn", "cloudpickle")]
    return [*pinned, "mlflow", "polars", "pandas", "numpy"]


def training_run(
    result: TrainingResult,
    kind: str,
    config: ChurnModelConfig,
    versions: dict[str, str],
    dagster_run_id: str,
) -> TrainingRun:
    """Everything MLflow records for one of the two models: params (model, split dates and
    rows, K, label definition), validation metrics, data versions, importance, calibration."""
    model, split = result.models[kind], result.split
    params = training_params(config, split.gap_days)
    own = {"logistic_c": params.logistic_c} if kind == "logistic" else params.lightgbm_params()
    definition = split.validation["definition"][0]
    importance = coefficients(model) if kind == "logistic" else feature_importance(model)
    return TrainingRun(
        model_name=MODEL_NAMES[kind], flavor="pyfunc", model=as_pyfunc(model),
        features=list(model.features),
        input_example=split.validation.select(pl.col(model.features).cast(pl.Float64)).head(5),
        params={**own, **split.describe(), "k": config.capacity_k, "calibration": "platt",
                "feature_set": feature_set(model.features),
                "label_definition": definition, "imbalance": _imbalance(kind)},
        metrics=result.metrics[kind], data_versions=versions, feature_importance=importance,
        tags={"retrain_reason": config.retrain_reason, "dagster_run_id": dagster_run_id},
        pip_requirements=pip_requirements(),
        tables={"calibration": result.calibration[kind], "validation_metrics": result.comparison()},
    )  # fmt: skip


def training_set_version(result: TrainingResult) -> str:
    """The content hash of every labelled row the split used (fit, calibration, validation):
    with the code version, what reproduces the model and its validation numbers."""
    split = result.split
    return data_version(pl.concat([split.fit, split.calibration, split.validation]))


def feature_set(features: tuple[str, ...]) -> str:
    """A short stable name of the ordered feature list: a new feature is a new spec."""
    return hashlib.sha256(",".join(features).encode()).hexdigest()[:12]


def _imbalance(kind: str) -> str:
    return "class_weight=balanced" if kind == "logistic" else "scale_pos_weight=sqrt(neg/pos)"


def _metadata(
    result: TrainingResult, kind: str, gated: GatedVersion, config: ChurnModelConfig
) -> dict[str, Any]:
    split, metrics = result.split, result.metrics[kind]
    rows = split.fit.height + split.calibration.height
    return {
        **table_metadata(rows, split.fit.select(FEATURE_COLUMNS).schema),
        "model_name": MODEL_NAMES[kind], "model_version": gated.registered.version,
        "mlflow_run_id": gated.registered.run_id, "promoted": gated.decision.promoted,
        "gate": gated.decision.reason, "refit": gated.refit,
        "pr_auc": metrics["pr_auc"], "baseline_pr_auc": gated.decision.baseline,
        "precision_at_k": metrics["precision_at_k"], "k": config.capacity_k,
        "rows_used": rows, "positives": int(split.fit["churned"].sum()
                                            + split.calibration["churned"].sum()),
        "validation_rows": split.validation.height,
        "validation_positives": int(split.validation["churned"].sum()),
        "validation_snapshots": ", ".join(str(d) for d in split.dates("validation")),
        "metrics": dg.MetadataValue.md(markdown_table(result.comparison())),
        "calibration": dg.MetadataValue.md(markdown_table(result.calibration[kind])),
        "gap_days": split.gap_days,
        "gap_source": "config" if config.label_window_days else "label maturity",
        "retrain_reason": config.retrain_reason,
        "data_version": training_set_version(result),
    }  # fmt: skip


def _spec(name: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        [*KEY_PREFIX, name], group_name=GROUP, owners=OWNERS, code_version="1",
        deps=[SNAPSHOT_KEY, LABEL_KEY], kinds={"lightgbm" if name == "lightgbm" else "sklearn",
                                               "mlflow"},
        description=f"{MODEL_NAMES[name]}: trained with the other churn model on one time split, "
        "registered as challenger, promoted to champion only through the PR-AUC gate.",
    )  # fmt: skip


@dg.multi_asset(specs=[_spec("logistic"), _spec("lightgbm")], name="churn_models")
def churn_models(
    context: dg.AssetExecutionContext,
    config: ChurnModelConfig,
    warehouse: DuckDBResource,
    mlflow: MlflowResource,
) -> Iterator[dg.MaterializeResult]:
    """Both churn models from the matured labelled snapshots: logistic gated against the
    positive rate, LightGBM against the logistic model (same validation rows, PR-AUC, higher
    is better); each its own registered model with its data versions."""
    features, labels = read_inputs(warehouse)
    labelled = labelled_snapshots(features, labels)
    window = config.label_window_days or label_window_days(labels)
    result = train_models(labelled, training_params(config, window))
    versions = {"customer_snapshot": data_version(features), "churn_label": data_version(labels),
                "training_set": training_set_version(result)}  # fmt: skip
    baselines = {"logistic": result.metrics["logistic"]["prevalence"],
                 "lightgbm": result.metrics["logistic"][GATE_METRIC]}  # fmt: skip
    with warehouse.get_connection() as conn:  # what the demo and a notebook read back
        replace_table(conn, COMPARISON_TABLE, result.comparison())
    target = mlflow.target(EXPERIMENT)
    for kind in ("logistic", "lightgbm"):
        run = training_run(result, kind, config, versions, context.run_id)
        gated = register_and_gate(
            target, run, metric=GATE_METRIC, baseline=baselines[kind], margin=config.gate_margin,
            lower_is_better=False, spec=SPECS[kind],
        )  # fmt: skip
        context.log.info(
            f"{MODEL_NAMES[kind]} v{gated.registered.version}: {gated.decision.reason}"
        )
        yield dg.MaterializeResult(
            asset_key=[*KEY_PREFIX, kind], metadata=_metadata(result, kind, gated, config)
        )
