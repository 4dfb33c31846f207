"""Declarative automation and freshness shared by every product.

Downstream assets follow their inputs by ``AutomationCondition`` rather than hand-written
chains; freshness policies tell on-call when a table users depend on stops being refreshed
(the stale pipeline). Thresholds are read from the environment when definitions load.
"""

import os
from datetime import timedelta

import dagster as dg

FRESHNESS_FAIL_ENV = "INTEL_FRESHNESS_FAIL_HOURS"
FRESHNESS_WARN_ENV = "INTEL_FRESHNESS_WARN_HOURS"


def daily_freshness() -> dg.FreshnessPolicy:
    """A daily table older than ~26 h fails (DOMAIN.md), warning an hour or two before."""
    fail = float(os.getenv(FRESHNESS_FAIL_ENV, "26"))
    warn = float(os.getenv(FRESHNESS_WARN_ENV, str(fail - 2 if fail > 4 else fail / 2)))
    return dg.FreshnessPolicy.time_window(
        fail_window=timedelta(hours=fail), warn_window=timedelta(hours=warn)
    )


def follows_upstream(history: dg.AssetSelection) -> dg.AutomationCondition:
    """``eager()`` for a table built from a long daily history: update when an input's data
    version changed (a re-run that produced the same data does not recompute downstream),
    not while one is running, not while an input is missing (a forecast waits for its model),
    and only when the inputs' blocking checks passed. Unlike ``eager()`` it ignores missing
    partitions of the daily ``history`` assets: it starts in 2011 (to hold M5), and partitions
    nobody loaded must not freeze the pipeline."""
    condition = dg.AutomationCondition
    missing_input = condition.any_deps_match(
        condition.missing() & ~condition.will_be_requested()
    ).ignore(history)
    return (
        (
            condition.newly_missing() | condition.any_deps_match(condition.data_version_changed())
        ).since_last_handled()
        & ~missing_input
        & ~condition.any_deps_in_progress()
        & ~condition.in_progress()
        & condition.all_deps_blocking_checks_passed()
    ).with_label("follows_upstream")


def keys(*paths: str) -> dg.AssetSelection:
    return dg.AssetSelection.assets(*(dg.AssetKey.from_user_string(p) for p in paths))


def with_automation(
    defs: dg.Definitions,
    *,
    eager: dg.AssetSelection,
    follows: dg.AssetSelection,
    fresh: dg.AssetSelection,
    history: dg.AssetSelection,
) -> dg.Definitions:
    """Apply conditions and freshness by asset selection, in one readable place per product."""
    defs = defs.map_resolved_asset_specs(
        func=lambda spec: spec.replace_attributes(
            automation_condition=dg.AutomationCondition.eager()
        ),
        selection=eager,
    )
    defs = defs.map_resolved_asset_specs(
        func=lambda spec: spec.replace_attributes(automation_condition=follows_upstream(history)),
        selection=follows,
    )
    policy = daily_freshness()
    return defs.map_resolved_asset_specs(
        func=lambda spec: spec.replace_attributes(freshness_policy=policy),
        selection=fresh,
    )
