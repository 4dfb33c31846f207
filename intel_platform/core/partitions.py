"""Helpers for daily-partitioned assets that also run as single-run backfills of a range."""

from datetime import date, timedelta

import dagster as dg


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    """Every day in the run's partition or partition range (a backfill is one run)."""
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    return [first + timedelta(days=i) for i in range((end - first).days)]


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
