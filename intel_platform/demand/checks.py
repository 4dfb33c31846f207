"""The demand asset checks, each with the line of runbook on-call reads when it fails."""

import dagster as dg

from intel_platform.core.checks import CheckDefinition

_H = ["demand", "harmonized"]
SALES_KEY = dg.AssetKey([*_H, "sales"])
INVENTORY_KEY = dg.AssetKey([*_H, "inventory"])
PRODUCTS_KEY = dg.AssetKey([*_H, "products"])
STORES_KEY = dg.AssetKey([*_H, "stores"])
PLAN_KEY = dg.AssetKey([*_H, "plan"])

_REPLAY = (
    "then re-materialize the failed partitions of demand/harmonized/sales (the quarantine "
    "rows move back automatically)."
)

SALES = [
    CheckDefinition(
        SALES_KEY,
        "sales_contract",
        "Pandera SalesModel: types, units 0..100000, price > 0 or null, unique (source, "
        "line_id), one POS row per store-item-day.",
        "A harmonizer rule let a bad row through: read sample_rows, fix the rule in "
        "intel_platform/demand/harmonize.py (add a test), " + _REPLAY,
    ),
    CheckDefinition(
        SALES_KEY,
        "sales_price_null_rate",
        "Per partition, at most 5 % of sales rows may lack a price (configurable).",
        "A source stopped sending prices (a silent rename or an empty export column): open "
        "failed_files, compare their header with SALES aliases in demand/contracts.py, add the "
        "alias or get the export fixed, " + _REPLAY,
    ),
    CheckDefinition(
        SALES_KEY,
        "sales_quarantine_rate",
        "Per partition, at most 1 % of sales rows may be quarantined (fewer than 10 never fail).",
        "Query demand_harmonized.sales_quarantine for the failed partitions; a new spelling or "
        "code needs a mapping (demand/contracts.py or <home>/mappings), a broken export needs "
        "the source team; " + _REPLAY,
    ),
    CheckDefinition(
        SALES_KEY,
        "sales_completeness",
        "Per partition, at most 1 % of expected POS store-item-days (open stores x launched "
        "items) may be missing (fewer than 5 never fail): catches dropped weekends and stores "
        "whose file never came. A row that arrived broken counts as arrived (quarantine).",
        "sample_rows lists missing store-item-days: ask the POS team for the missing store "
        "files (landing/demand/pos_sales/<day>/<store>.csv); when they land, re-materialize "
        "demand/raw/pos_sales and demand/harmonized/sales for those days.",
    ),
]

INVENTORY = [
    CheckDefinition(
        INVENTORY_KEY,
        "inventory_contract",
        "Pandera InventoryModel: on-hand >= 0, one snapshot per store-item-day.",
        "Read sample_rows, fix the rule in demand/harmonize.py, re-materialize the partition.",
    ),
    CheckDefinition(
        INVENTORY_KEY,
        "inventory_quarantine_rate",
        "Per partition, at most 1 % of inventory rows quarantined (fewer than 10 never fail).",
        "Query demand_harmonized.inventory_quarantine; replenishment uses the last good "
        "snapshot meanwhile. Fix the mapping or the export, then re-materialize.",
        blocking=False,
        severity=dg.AssetCheckSeverity.WARN,
    ),
]

PRODUCTS = [
    CheckDefinition(
        PRODUCTS_KEY,
        "products_contract",
        "Pandera ProductsModel: unique item_id, canonical category, launch date, price > 0.",
        "Read sample_rows, fix the rule in demand/harmonize.py, re-materialize products.",
    ),
    CheckDefinition(
        PRODUCTS_KEY,
        "products_quarantined",
        "Every catalog row harmonizes; a quarantined product also quarantines its sales.",
        "For unknown_category add 'spelling,Category' to <home>/mappings/category_aliases.csv, "
        "re-materialize demand/harmonized/products, then the affected sales partitions.",
        blocking=False,
        severity=dg.AssetCheckSeverity.WARN,
    ),
]

STORES = [
    CheckDefinition(
        STORES_KEY,
        "stores_contract",
        "Pandera StoresModel: unique store_id, parseable open date.",
        "Read sample_rows and fix the store list export, then re-materialize stores.",
    ),
    CheckDefinition(
        STORES_KEY,
        "stores_quarantined",
        "Every store-list row harmonizes; sales of a quarantined store are quarantined too.",
        "Query demand_harmonized.stores_quarantine, fix the store list export, re-materialize "
        "demand/harmonized/stores, then the affected sales partitions.",
        blocking=False,
        severity=dg.AssetCheckSeverity.WARN,
    ),
]

PLAN = [
    CheckDefinition(
        PLAN_KEY,
        "plan_contract",
        "Pandera PlanModel: one row per store-item-day, flags true/false or empty.",
        "Read sample_rows and fix the plan export (catalog/plan.csv), then re-materialize.",
    ),
    CheckDefinition(
        PLAN_KEY,
        "plan_quarantined",
        "Every planned row harmonizes (known store and item, readable date and flags).",
        "Query demand_harmonized.plan_quarantine; the forecast ignores those rows (unplanned "
        "days keep the default: no promotion, the last week's opening). Fix the export.",
        blocking=False,
        severity=dg.AssetCheckSeverity.WARN,
    ),
]
