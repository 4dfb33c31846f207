"""Churn labels: who is at risk at each snapshot, and who churned in the horizon after it.

Grain: one row per active (customer_id, snapshot_date), sorted by (snapshot_date, customer_id).

Invariants and decisions
- Snapshot T sees only events dated before T (point-in-time); snapshots are every
  ``every_days`` days on a fixed weekday calendar (Mondays by default), from the day after the
  first event up to the scoring snapshot ``data_as_of + 1``.
- ``data_as_of`` is the newest usage day: usage is the dense, required feed, while billing and
  help-desk feeds are sparse, so their newest day says nothing about completeness.
- Active at T = first event (usage or billing) before T and not already churned. A customer
  whose billing history has a status event before T is active unless the last one is a
  cancellation (reactivation, renewal and sign-up reopen it); a customer without one (or every
  customer, when there is no billing feed) is active when used in the last ``inactivity_days``.
  The population depends on the data, never on the label definition, so the feature table,
  every definition and the cross-tab share the same rows.
- "cancellation": a cancellation in [T, T + horizon) that no reactivation, renewal or sign-up
  follows within ``reversal_days`` (billing retries cancel and reactivate: DOMAIN.md story 7).
  Usage does NOT reverse a cancellation: a cancelled customer keeps access until the end of the
  paid term, so logins after a real cancellation are common and would hide true churn.
- "inactivity": no usage event in [T, T + inactivity_days).
- A label is matured when every day it reads has landed: T + horizon (+ reversal_days for
  cancellation; at least T + inactivity_days for inactivity) <= data_as_of + 1. An immature
  label is null, never False: an unknown future is not a customer who stayed.
- Validation before modelling (story 7): the metadata compares naive cancellations (any in the
  horizon), the reversal rule and inactivity on the same rows; the WARN check fails when more
  than ``max_came_back_share`` of the chosen definition's matured positives came back within
  ``comeback_days`` after their window (reversal_days=0, the naive rule, on billing retries).
"""

__all__ = [
    "DEFINITIONS",
    "LABEL_COLUMNS",
    "LabelRules",
    "cancellation_events",
    "churn_labels",
    "label_candidates",
    "label_report",
    "resolve_definition",
]

from dataclasses import dataclass
from datetime import date

import dagster as dg
import pandera.polars as pa
import polars as pl
from dagster_duckdb import DuckDBResource
from pandera.api.polars.model_config import BaseConfig
from pandera.polars import PolarsData

from intel_platform.churn.snapshots import (
    HARMONIZED,
    HARMONIZED_TABLES,
    KEYS,
    REVERSING_EVENTS,
    SnapshotConfig,
    active_population,
    asof,
    data_as_of,
    has_rows,
    read_harmonized,
    usage_days,
)
from intel_platform.core.checks import CheckDefinition, CheckOutcome, contract_outcome
from intel_platform.core.metadata import markdown_table, table_metadata
from intel_platform.core.warehouse import (
    replace_table,
    table_name,
)

DEFINITIONS = ("auto", "cancellation", "inactivity")
LABEL_COLUMNS = ("customer_id", "snapshot_date", "churned", "matured", "definition")
_EPOCH = date(1970, 1, 1)
_T = pl.col("snapshot_date").cast(pl.Int32)
_D = pl.col("date").cast(pl.Int32)


@dataclass(frozen=True)
class LabelRules:
    """Windows (days) of every definition; ``comeback_days`` measures lost users who return."""

    horizon_days: int = 30
    reversal_days: int = 30
    inactivity_days: int = 30
    comeback_days: int = 30


def resolve_definition(definition: str, subscriptions: pl.DataFrame | None) -> str:
    """ "auto" is cancellation when billing events exist, else inactivity; cancellation without
    billing events fails loudly rather than writing a table of labels that never mature."""
    if definition not in DEFINITIONS:
        raise ValueError(f"definition must be one of {DEFINITIONS}, got {definition!r}")
    if definition == "cancellation" and not has_rows(subscriptions):
        raise ValueError("definition 'cancellation' needs subscription events: none are loaded")
    if definition != "auto":
        return definition
    return "cancellation" if has_rows(subscriptions) else "inactivity"


def cancellation_events(subscriptions: pl.DataFrame, as_of: date, rules: LabelRules):
    """One row per cancellation: its day ``_d``, the day of the next reversing event after it
    (``returned``, null if none yet) and ``reversed``: True when that is within
    ``reversal_days``, False when the whole reversal window has landed without one, null while
    it is pending."""
    status = pl.col("event_type").cast(pl.String)
    cancels = subscriptions.filter(status == "cancellation").select(
        "customer_id", "event_time", _d=_D
    )
    returns = subscriptions.filter(status.is_in(REVERSING_EVENTS)).select(
        "customer_id", _t=pl.col("event_time"), returned=_D
    )
    joined = cancels.sort("event_time").join_asof(
        returns.sort("_t"), left_on="event_time", right_on="_t", by="customer_id",
        strategy="forward", allow_exact_matches=False, check_sortedness=False,
    )  # fmt: skip
    within = pl.col("returned") - pl.col("_d") <= rules.reversal_days
    landed = pl.col("_d") + rules.reversal_days <= (as_of - _EPOCH).days
    return joined.select(
        "customer_id",
        "_d",
        "returned",
        reversed=pl.when(within.fill_null(False)).then(True).when(landed).then(False),
    ).sort("customer_id", "_d")


def _inactivity(frame: pl.DataFrame, usage: pl.DataFrame, end: int, rules: LabelRules):
    """``inactivity``: no usage in [T, T + i); came back: used again in [T + i, T + i + back)."""
    i, back, span = (
        rules.inactivity_days,
        rules.comeback_days,
        max(rules.horizon_days, rules.inactivity_days),
    )
    uses = usage_days(usage).with_columns(next_use=pl.col("_d"))
    frame = asof(frame, uses, _T, forward=True)
    frame = asof(frame, uses.rename({"next_use": "use_after"}), _T + i, forward=True)
    inactive = pl.col("next_use").is_null() | (pl.col("next_use") >= _T + i)
    came_back = (pl.col("use_after") < _T + i + back).fill_null(False)
    return frame.with_columns(
        inactivity=pl.when(_T + span <= end).then(inactive),
        inactivity_came_back=pl.when(inactive & (_T + max(span, i + back) <= end)).then(came_back),
    ).drop("next_use", "use_after")  # fmt: skip


def _cancellation(frame: pl.DataFrame, events: pl.DataFrame, name: str, extra: int,
                  end: int, rules: LabelRules) -> pl.DataFrame:  # fmt: skip
    """``name``: one of ``events`` in [T, T + h), matured when T + h + extra has landed;
    came back: a reversing event within extra + comeback_days of that cancellation."""
    h, back = rules.horizon_days, rules.comeback_days
    nxt = events.select("customer_id", "_d", _c=pl.col("_d"), _ret=pl.col("returned"))
    got = pl.col("_c") < _T + h
    back_in = (pl.col("_ret") - pl.col("_c") <= extra + back).fill_null(False)
    return (
        asof(frame, nxt, _T, forward=True)
        .with_columns(
            pl.when(_T + h + extra <= end).then(got.fill_null(False)).alias(name),
            pl.when(got & (_T + h + extra + back <= end)).then(back_in).alias(f"{name}_came_back"),
        )
        .drop("_c", "_ret")
    )  # fmt: skip


def label_candidates(
    population: pl.DataFrame,
    usage: pl.DataFrame,
    subscriptions: pl.DataFrame | None,
    as_of: date,
    rules: LabelRules = LabelRules(),  # noqa: B008 - frozen dataclass
) -> pl.DataFrame:
    """Every definition side by side on the population: ``naive`` (any cancellation in the
    horizon), ``cancellation``, ``inactivity`` (Boolean, null while immature or without a
    billing feed) and ``*_came_back`` (a matured positive seen back within ``comeback_days``
    after its window: the reversal window for cancellations, the inactivity window)."""
    end = (as_of - _EPOCH).days + 1  # the first day not landed yet
    out = _inactivity(population, usage, end, rules)
    if not has_rows(subscriptions):
        nulls = ("naive", "naive_came_back", "cancellation", "cancellation_came_back")
        return out.with_columns(pl.lit(None, pl.Boolean).alias(c) for c in nulls)
    cancels = cancellation_events(subscriptions, as_of, rules)  # type: ignore[arg-type]
    out = _cancellation(out, cancels, "naive", 0, end, rules)
    unreversed = cancels.filter(~pl.col("reversed"))  # pending ones only reach immature rows
    return _cancellation(out, unreversed, "cancellation", rules.reversal_days, end, rules)


def churn_labels(candidates: pl.DataFrame, definition: str) -> pl.DataFrame:
    """The label table for the resolved ``definition``: churned null iff not matured."""
    return candidates.select(
        *KEYS,
        churned=pl.col(definition),
        matured=pl.col(definition).is_not_null(),
        definition=pl.lit(definition),
    ).sort("snapshot_date", "customer_id")


def label_report(
    candidates: pl.DataFrame, cancels: pl.DataFrame | None, definition: str
) -> dict[str, object]:
    """How the definitions disagree on this data, to validate the label before modelling."""
    report: dict[str, object] = {}
    if cancels is not None:
        known = cancels.filter(pl.col("reversed").is_not_null())
        reversed_count = int(known["reversed"].sum())
        report |= {
            "naive_cancellations": known.height,
            "pending_cancellations": cancels.height - known.height,
            "reversed_cancellations": reversed_count,
            "reversed_share": reversed_count / known.height if known.height else 0.0,
        }
    for name in ("naive", "cancellation", "inactivity"):
        known = candidates[name].drop_nulls()
        report |= {f"rows_matured_{name}": known.len(),
                   f"positive_rate_{name}": known.mean() if known.len() else None}  # fmt: skip
    pair = ["cancellation", "inactivity"]
    both = candidates.drop_nulls(pair)
    cross = both.group_by(pair).len("rows").sort(pair)
    agree = (both["cancellation"] == both["inactivity"]).mean() if both.height else None
    came_back = candidates[f"{definition}_came_back"].drop_nulls()
    report |= {
        "crosstab_cancellation_vs_inactivity": dg.MetadataValue.md(markdown_table(cross)),
        "agreement_cancellation_inactivity": agree,
        "came_back_positives": came_back.len(),
        "came_back_share": came_back.mean() if came_back.len() else 0.0,
    }
    return report


class LabelConfig(SnapshotConfig):
    """``definition``: "auto" (cancellation with a billing feed, else inactivity),
    "cancellation" or "inactivity"; windows in days (module docstring)."""

    definition: str = "auto"
    horizon_days: int = 30
    reversal_days: int = 30
    comeback_days: int = 30
    max_came_back_share: float = 0.20

    @property
    def rules(self) -> LabelRules:
        return LabelRules(self.horizon_days, self.reversal_days, self.inactivity_days,
                          self.comeback_days)  # fmt: skip


# --- Dagster layer ----------------------------------------------------------------------------

KEY_PREFIX = ["churn", "labels"]
KEY = dg.AssetKey([*KEY_PREFIX, "churn_label"])
LABEL_SCHEMA = {
    "customer_id": pl.String, "snapshot_date": pl.Date, "churned": pl.Boolean,
    "matured": pl.Boolean, "definition": pl.String,
}  # fmt: skip


class LabelModel(pa.DataFrameModel):
    """One label per customer x snapshot; churned is known exactly when the label matured."""

    customer_id: str
    snapshot_date: pl.Date
    churned: pl.Boolean = pa.Field(nullable=True)
    matured: pl.Boolean
    definition: str = pa.Field(isin=["cancellation", "inactivity"])

    class Config(BaseConfig):
        strict = True
        unique = list(KEYS)

    @pa.dataframe_check
    @classmethod
    def churned_null_iff_immature(cls, data: PolarsData) -> pl.LazyFrame:
        """False for an unknown future would teach the model that the customer stayed."""
        return data.lazyframe.select(pl.col("churned").is_null() == ~pl.col("matured"))


CHECKS = [
    CheckDefinition(
        KEY,
        "labels_contract",
        "Pandera: one label per customer x snapshot, churned null exactly when immature.",
        "A label rule broke: read sample_rows, fix intel_platform/churn/labels.py (with a test) "
        "and re-materialize; churn training waits meanwhile.",
    ),
    CheckDefinition(
        KEY,
        "labels_came_back",
        "WARN: share of matured churn positives seen back (reactivation, renewal, sign-up, or "
        "usage for inactivity) within comeback_days after the label window.",
        "Lost users come back: the definition counts false churn (billing retries, holidays). "
        "Read the cross-tab and reversed_share in the asset metadata; raise reversal_days or "
        "inactivity_days, or switch definition, before training.",
        blocking=False,
        severity=dg.AssetCheckSeverity.WARN,
    ),
]


def _came_back_outcome(report: dict, max_share: float, rows: int) -> CheckOutcome:
    """WARN when more than ``max_share`` of matured positives came back (story 7)."""
    share = report["came_back_share"]
    failures = {f"came_back_share>{max_share:.0%}": report["came_back_positives"]}
    return CheckOutcome(
        failures if share > max_share else {},
        observed={"came_back_share": share, "max_came_back_share": max_share,
                  "reversed_share": report.get("reversed_share", 0.0)},
        rows_checked=rows,
    )  # fmt: skip


@dg.asset(
    key=KEY, group_name="churn_labels", owners=["team:churn"], code_version="1",
    deps=[dg.AssetKey([*HARMONIZED, n]) for n in HARMONIZED_TABLES],
    kinds={"polars", "duckdb"}, check_specs=[c.spec for c in CHECKS],
)  # fmt: skip
def churn_label(config: LabelConfig, warehouse: DuckDBResource):
    """Did each active customer churn within horizon_days of each snapshot? Null until the
    future it needs has landed. Metadata compares definitions on this data (story 7)."""
    with warehouse.get_connection() as conn:
        usage, subscriptions, _ = read_harmonized(conn)
    as_of, definition = data_as_of(usage), resolve_definition(config.definition, subscriptions)
    population = active_population(usage, subscriptions, config.snapshots(usage, subscriptions),
                                   inactivity_days=config.inactivity_days)  # fmt: skip
    candidates = label_candidates(population, usage, subscriptions, as_of or _EPOCH, config.rules)
    labels = churn_labels(candidates, definition).cast(LABEL_SCHEMA)  # type: ignore[arg-type]
    cancels = (
        None if subscriptions is None else cancellation_events(subscriptions, as_of, config.rules)
    )
    report = label_report(candidates, cancels, definition)
    with warehouse.get_connection() as conn:
        replace_table(conn, table_name(KEY), labels)
    yield dg.MaterializeResult(metadata={
        **table_metadata(labels.height, labels.schema), "definition": definition,
        "data_as_of": str(as_of), "snapshots": labels["snapshot_date"].n_unique(),
        "customers": labels["customer_id"].n_unique(),
        "rows_matured": int(labels["matured"].sum()),
        "rows_immature": int((~labels["matured"]).sum()), **report,
    })  # fmt: skip
    yield CHECKS[0].result(contract_outcome(LabelModel, labels))
    yield CHECKS[1].result(_came_back_outcome(report, config.max_came_back_share, labels.height))
