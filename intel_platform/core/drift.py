"""Feature drift, product-agnostic: PSI per watched feature between what the champion learned
from and what it sees now, with DOMAIN.md's status (PSI > 0.2 warn, > 0.3 retrain) and the
verdict the retrain sensor acts on. Frames in, frames out; no I/O and no clock.
"""

__all__ = ["drift_decision", "drift_status", "feature_drift"]

from collections.abc import Sequence

import dagster as dg
import polars as pl

from intel_platform.core.metadata import markdown_table, table_metadata
from intel_platform.core.metrics import psi

_TEXT = (pl.String, pl.Categorical, pl.Enum)  # compared as categories, like coded features
DRIFT_COLUMNS = {"feature": pl.String, "kind": pl.String, "psi": pl.Float64}


def drift_status(value: pl.Expr, *, warn: float = 0.2, retrain: float = 0.3) -> pl.Expr:
    """``retrain`` above ``retrain``, ``warn`` above ``warn``, else ``ok``."""
    return (
        pl.when(value > retrain)
        .then(pl.lit("retrain"))
        .when(value > warn)
        .then(pl.lit("warn"))
        .otherwise(pl.lit("ok"))
    )


def feature_drift(
    reference: pl.DataFrame,
    recent: pl.DataFrame,
    features: Sequence[str],
    *,
    warn: float = 0.2,
    retrain: float = 0.3,
    bins: int = 10,
    categorical: Sequence[str] = (),
) -> pl.DataFrame:
    """PSI of each feature, ``recent`` against ``reference`` (what the champion learned from).

    Numeric features are binned at the reference's quantiles; ``categorical`` ones (integer
    codes whose order means nothing) and text columns compare category frequencies (as do
    booleans, inside ``psi``, though labelled numeric). One row per feature: kind, psi,
    status (``drift_status``), most drifted first, because that is the order a reader asks in."""
    rows = []
    for feature in features:
        expected, actual = reference[feature], recent[feature]
        coded = feature in categorical or isinstance(expected.dtype, _TEXT)
        kind = "categorical" if coded else "numeric"
        if feature in categorical:
            expected, actual = expected.cast(pl.String), actual.cast(pl.String)
        rows.append((feature, kind, psi(expected, actual, bins=bins)))
    table = pl.DataFrame(rows, schema=DRIFT_COLUMNS, orient="row")
    status = drift_status(pl.col("psi"), warn=warn, retrain=retrain)
    return table.with_columns(status=status).sort(["psi", "feature"], descending=[True, False])


def drift_decision(drift: pl.DataFrame) -> tuple[bool, str]:
    """Retrain when any watched feature is past the retrain threshold; the detail names them,
    so the retrain run's reason can be read without opening the table."""
    over = drift.filter(pl.col("status") == "retrain")
    if over.is_empty():
        return False, ""
    named = ", ".join(f"{f} {p:.2f}" for f, p in over.select("feature", "psi").head(5).iter_rows())
    return True, f"{over.height} feature(s) over the retrain PSI: {named}"


def drift_summary(drift: pl.DataFrame) -> dict[str, object]:
    """What on-call reads in the UI without opening a drift table (``feature``, ``kind``,
    ``psi``, ``status`` sorted worst first): the top features and the counts over each line."""
    return {
        **table_metadata(drift.height, drift.schema),
        "status": "evaluated",
        "top_drifting": dg.MetadataValue.md(
            markdown_table(drift.select("feature", "kind", "psi", "status").head(10))
        ),
        "max_psi": float(drift["psi"].max()),
        "features_over_warn": int((drift["status"] != "ok").sum()),
        "features_over_retrain": int((drift["status"] == "retrain").sum()),
    }
