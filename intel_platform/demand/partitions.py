"""Demand runs on calendar days. The start covers the public M5 history (2011-01-29), so real
data imports into existing partitions; automation only ever targets the latest day."""

import dagster as dg

DAILY = dg.DailyPartitionsDefinition(start_date="2011-01-01")
HISTORY_BACKFILL = dg.BackfillPolicy.single_run()
