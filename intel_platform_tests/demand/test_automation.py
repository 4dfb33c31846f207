"""Freshness policies and declarative automation of the demand location, evaluated by Dagster."""

from datetime import timedelta

import dagster as dg
import polars as pl

from intel_platform.core.automation import FRESHNESS_FAIL_ENV
from intel_platform.demand.definitions import FRESH, defs
from intel_platform_tests.fixtures import START, pos_files, rewrite_csv, run_demand, small_demand

USER_FACING = [
    "demand/raw/pos_sales",
    "demand/harmonized/sales",
    "demand/features/store_item_day",
    "demand/forecasts/store_item_daily",
    "demand/decisions/replenishment",
]


def test_every_asset_users_depend_on_has_a_26_hour_freshness_policy(home):
    graph = defs().resolve_asset_graph()
    for path in USER_FACING:
        policy = graph.get(dg.AssetKey.from_user_string(path)).freshness_policy
        assert policy is not None, path
        assert policy.fail_window.to_timedelta() == timedelta(hours=26), path


def test_freshness_threshold_comes_from_config(home, monkeypatch):
    monkeypatch.setenv(FRESHNESS_FAIL_ENV, "8")
    graph = defs().resolve_asset_graph()
    key = dg.AssetKey.from_user_string("demand/forecasts/store_item_daily")
    assert graph.get(key).freshness_policy.fail_window.to_timedelta() == timedelta(hours=8)
    assert len(FRESH.resolve(graph)) == len(USER_FACING)


def test_new_harmonized_day_requests_features_but_not_a_forecast_without_a_model(home):
    instance = dg.DagsterInstance.ephemeral()
    last = small_demand(home)
    location = defs()
    first_tick = dg.evaluate_automation_conditions(defs=location, instance=instance)
    features = dg.AssetKey.from_user_string("demand/features/store_item_day")
    assert first_tick.get_num_requested(features) == 0  # no sales yet: features wait

    assert run_demand(instance, START, last).success
    second = dg.evaluate_automation_conditions(
        defs=location, instance=instance, cursor=first_tick.cursor
    )
    assert second.get_num_requested(features) == 1
    forecast = dg.AssetKey.from_user_string("demand/forecasts/store_item_daily")
    assert second.get_num_requested(forecast) == 0  # its model does not exist yet
    third = dg.evaluate_automation_conditions(defs=location, instance=instance,
                                              cursor=second.cursor)  # fmt: skip
    assert third.get_num_requested(features) == 0  # handled: not requested twice


def test_an_identical_re_drop_recomputes_nothing_downstream_a_changed_file_does(home):
    instance = dg.DagsterInstance.ephemeral()
    last = small_demand(home)
    location = defs()
    features = dg.AssetKey.from_user_string("demand/features/store_item_day")
    assert run_demand(instance, START, last).success
    assert run_demand(instance, last, last, selection='key:"demand/features/store_item_day"')
    assert run_demand(instance, last, last).success  # the daily path: versions from content
    baseline = dg.evaluate_automation_conditions(defs=location, instance=instance)

    assert run_demand(instance, last, last).success  # the same files ingested again
    same = dg.evaluate_automation_conditions(
        defs=location, instance=instance, cursor=baseline.cursor
    )
    assert same.get_num_requested(features) == 0

    path = pos_files(home, last)[0]
    rewrite_csv(path, lambda f: f.with_columns(units=pl.lit("3")))  # a corrected file
    assert run_demand(instance, last, last).success
    changed = dg.evaluate_automation_conditions(
        defs=location, instance=instance, cursor=same.cursor
    )
    assert changed.get_num_requested(features) == 1
