"""Demand features, one row per store x item x day: the pure feature rules (``build``, shared by
training and serving) and the Dagster asset that materializes them as a table (``table``).

The names are re-exported here, so callers import from ``intel_platform.demand.features``, and
``load_assets_from_modules`` finds ``store_item_day`` on this package (it scans attributes, not
submodules: listing ``table`` as well would load the asset twice).
"""

__all__ = [
    "CALENDAR_FEATURES",
    "CATEGORICAL_FEATURES",
    "CHECKS",
    "DAILY_KEY",
    "FEATURE_COLUMNS",
    "GRAIN",
    "KEY",
    "LAGS",
    "MIN_HISTORY_DAYS",
    "PRICE_WINDOW",
    "TARGET",
    "WINDOWS",
    "build_features",
    "catalog_codes",
    "catalog_items",
    "features_schema",
    "read_codes",
    "first_sales",
    "holiday_calendar",
    "store_item_day",
]

from intel_platform.demand.features.build import (
    CALENDAR_FEATURES,
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    GRAIN,
    LAGS,
    MIN_HISTORY_DAYS,
    PRICE_WINDOW,
    TARGET,
    WINDOWS,
    build_features,
    first_sales,
    holiday_calendar,
)
from intel_platform.demand.features.codes import catalog_codes, catalog_items
from intel_platform.demand.features.table import (
    CHECKS,
    DAILY_KEY,
    KEY,
    features_schema,
    read_codes,
    store_item_day,
)
