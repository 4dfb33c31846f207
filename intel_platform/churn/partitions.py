"""Churn runs on calendar days; the start leaves room for an imported activity log's history."""

import dagster as dg

DAILY = dg.DailyPartitionsDefinition(start_date="2020-01-01")
HISTORY_BACKFILL = dg.BackfillPolicy.single_run()
