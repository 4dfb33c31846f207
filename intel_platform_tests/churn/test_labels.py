from datetime import date

import dagster as dg
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from intel_platform.churn.features import customer_snapshot
from intel_platform.churn.labels import (
    KEY,
    LabelModel,
    LabelRules,
    cancellation_events,
    churn_label,
    churn_labels,
    label_candidates,
    label_report,
    resolve_definition,
)
from intel_platform.churn.snapshots import active_population, data_as_of
from intel_platform.core.warehouse import read_table, replace_table, table_name
from intel_platform_tests.churn.frames import (
    FEATURE_TICKETS,
    LABEL_SUBSCRIPTIONS,
    LABEL_USAGE,
    day,
    usage_frame,
)

T = day(28)


def candidates(usage=LABEL_USAGE, subscriptions=LABEL_SUBSCRIPTIONS, snapshots=(T,), **rules):
    population = active_population(usage, subscriptions, list(snapshots))
    return label_candidates(
        population, usage, subscriptions, data_as_of(usage), LabelRules(**rules)
    )


def by_customer(frame: pl.DataFrame, column: str) -> dict[str, object]:
    return dict(zip(frame["customer_id"], frame[column], strict=True))


def test_reversed_billing_retry_is_not_churn_under_cancellation_but_a_real_one_is():
    frame = candidates()
    assert by_customer(frame, "naive") == {"A": False, "B": True, "C": True, "D": False}
    assert by_customer(frame, "cancellation") == {"A": False, "B": False, "C": True, "D": False}


def test_inactivity_is_no_usage_in_the_window_after_the_snapshot():
    frame = candidates()
    assert by_customer(frame, "inactivity") == {"A": False, "B": False, "C": False, "D": True}
    # Boundary: usage on T + inactivity_days - 1 keeps the customer, on T + inactivity_days not.
    usage = usage_frame([("X", 27, "login"), ("X", 57, "login"), ("Y", 27, "login"),
                         ("Y", 58, "login"), ("Z", 200, "login")])  # fmt: skip
    labels = churn_labels(candidates(usage=usage, subscriptions=None), "inactivity")
    assert by_customer(labels, "churned") == {"X": False, "Y": True}


def test_immature_labels_are_null_never_false():
    frame = candidates(snapshots=(T, day(56), day(63), day(98)))
    cancellation = churn_labels(frame, "cancellation").filter(pl.col("customer_id") == "A")
    # Data has landed up to day 120: cancellation needs T + 30 + 30 <= day(121), so day(56)
    # is its last matured snapshot; inactivity needs T + 30 <= day(121) (day(91)).
    assert cancellation.select("snapshot_date", "churned", "matured").rows() == [
        (T, False, True),
        (day(56), False, True),
        (day(63), None, False),
        (day(98), None, False),
    ]
    inactivity = churn_labels(frame, "inactivity").filter(pl.col("customer_id") == "A")
    assert inactivity["churned"].to_list() == [False, False, False, None]


def test_auto_picks_inactivity_without_subscriptions_and_cancellation_with():
    assert resolve_definition("auto", None) == "inactivity"
    assert resolve_definition("auto", LABEL_SUBSCRIPTIONS.head(0)) == "inactivity"
    assert resolve_definition("auto", LABEL_SUBSCRIPTIONS) == "cancellation"
    assert resolve_definition("inactivity", LABEL_SUBSCRIPTIONS) == "inactivity"
    with pytest.raises(ValueError, match="definition"):
        resolve_definition("naive", None)
    with pytest.raises(ValueError, match="needs subscription events"):
        resolve_definition("cancellation", None)
    frame = candidates(subscriptions=None)
    assert frame["cancellation"].null_count() == frame.height  # no billing feed: unknown
    assert churn_labels(frame, "inactivity")["definition"].unique().to_list() == ["inactivity"]


def test_disagreement_report_on_a_hand_checkable_case():
    rules = LabelRules()
    cancels = cancellation_events(LABEL_SUBSCRIPTIONS, day(120), rules)
    assert cancels.select("customer_id", "returned", "reversed").rows() == [
        ("B", 33 + (day(0) - date(1970, 1, 1)).days, True),
        ("C", None, False),
    ]
    report = label_report(candidates(), cancels, "cancellation")
    assert {k: report[k] for k in ("naive_cancellations", "reversed_cancellations")} == {
        "naive_cancellations": 2,
        "reversed_cancellations": 1,
    }
    assert report["reversed_share"] == 0.5
    assert report["positive_rate_naive"] == 0.5
    assert report["positive_rate_cancellation"] == 0.25
    assert report["positive_rate_inactivity"] == 0.25
    assert report["agreement_cancellation_inactivity"] == 0.5
    crosstab = report["crosstab_cancellation_vs_inactivity"].md_str  # type: ignore[union-attr]
    assert (
        "| false | false | 2 |" in crosstab.lower() and "| true | false | 1 |" in crosstab.lower()
    )
    assert (report["came_back_positives"], report["came_back_share"]) == (1, 0.0)
    # With no reversal window B's retry counts as churn, and B came back within a month.
    naive = label_report(candidates(reversal_days=0), None, "cancellation")
    assert (naive["came_back_positives"], naive["came_back_share"]) == (2, 0.5)


def test_label_contract_rejects_a_false_label_for_an_unknown_future():
    labels = churn_labels(candidates(snapshots=(T, day(98))), "cancellation")
    LabelModel.validate(labels)
    broken = labels.with_columns(pl.col("churned").fill_null(False))
    with pytest.raises(Exception, match="churned_null_iff_immature"):
        LabelModel.validate(broken)


def _write(home, usage, subscriptions=None, tickets=None) -> DuckDBResource:
    warehouse = DuckDBResource(database=str(home.warehouse))
    with warehouse.get_connection() as conn:
        for name, frame in (("usage_events", usage), ("subscription_events", subscriptions),
                            ("tickets", tickets)):  # fmt: skip
            if frame is not None:
                replace_table(conn, table_name(["churn", "harmonized", name]), frame)
    return warehouse


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_assets_materialize_from_harmonized_tables(home, instance):
    warehouse = _write(home, LABEL_USAGE, LABEL_SUBSCRIPTIONS, FEATURE_TICKETS)
    result = dg.materialize(
        [churn_label, customer_snapshot], resources={"warehouse": warehouse}, instance=instance
    )
    assert result.success
    checks = _checks(result)
    assert all(c.passed for c in checks.values()), checks
    with warehouse.get_connection() as conn:
        labels = read_table(conn, table_name(KEY))
        features = read_table(conn, table_name(["churn", "features", "customer_snapshot"]))
    assert labels.columns == ["customer_id", "snapshot_date", "churned", "matured", "definition"]
    assert labels["definition"].unique().to_list() == ["cancellation"]
    assert labels.filter(pl.col("snapshot_date") == T)["churned"].to_list() == [
        False, False, True, False,
    ]  # fmt: skip
    assert features["snapshot_date"].max() == day(121)  # the scoring snapshot
    meta = result.asset_materializations_for_node("churn__labels__churn_label")[0].metadata
    assert meta["data_as_of"].value == "2024-04-30"
    assert meta["reversed_share"].value == 0.5
    assert meta["rows_matured"].value + meta["rows_immature"].value == labels.height


def test_usage_only_run_uses_inactivity_and_warns_on_naive_cancellation(home, instance):
    warehouse = _write(home, LABEL_USAGE)
    result = dg.materialize(
        [churn_label, customer_snapshot], resources={"warehouse": warehouse}, instance=instance
    )
    assert result.success
    meta = result.asset_materializations_for_node("churn__labels__churn_label")[0].metadata
    assert meta["definition"].value == "inactivity"
    _write(home, LABEL_USAGE, LABEL_SUBSCRIPTIONS)
    config = {"ops": {"churn__labels__churn_label": {"config": {"reversal_days": 0}}}}
    warned = dg.materialize(
        [churn_label], resources={"warehouse": warehouse}, instance=instance, run_config=config
    )
    assert warned.success  # a WARN never blocks
    came_back = _checks(warned)["labels_came_back"]
    assert not came_back.passed
    assert came_back.severity == dg.AssetCheckSeverity.WARN
