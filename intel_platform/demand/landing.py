"""The demand landing zone: which files each retail system drops, where, and with which header.

These are the *source* shapes, deliberately different per system (the POS says ``item_id`` and
``unit_price``, the web shop says ``sku`` and ``price_per_unit``); mapping them onto one contract
is the harmonized layer's job. Layout under ``<home>/landing/demand``::

    pos_sales/<YYYY-MM-DD>/<store_id>.csv     one file per store and day (daily POS summary,
                                              one row per active store x item, zeros included)
    ecom_orders/<YYYY-MM-DD>.jsonl            web-shop order lines of that day
    inventory/<YYYY-MM-DD>.parquet            end-of-day on-hand snapshot, every store x item
    catalog/products.csv, catalog/stores.csv  reference data, replaced when it changes
    catalog/plan.csv                          optional: planned promotions and closures ahead
"""

from datetime import date
from pathlib import Path

from intel_platform.core.home import ProjectHome
from intel_platform.core.landing import day_folder

PRODUCT = "demand"

POS_SALES = "pos_sales"
ECOM_ORDERS = "ecom_orders"
INVENTORY = "inventory"
CATALOG = "catalog"

POS_COLUMNS = ("pos_line_id", "store", "item_id", "sale_date", "units", "unit_price", "on_promo")
# Optional POS column, known in advance: False on a day the store is closed (its units are 0).
POS_OPTIONAL_COLUMNS = ("is_open",)
ECOM_COLUMNS = (
    "order_line_id",
    "fulfillment_store",
    "sku",
    "order_date",
    "qty",
    "price_per_unit",
    "promotion",
)
INVENTORY_COLUMNS = ("store_code", "product_sku", "snapshot_date", "qty_on_hand", "qty_on_order")
PRODUCT_COLUMNS = ("item_id", "item_name", "category", "department", "launch_date", "base_price")
STORE_COLUMNS = ("store_id", "store_name", "state", "open_date")
# Optional: known-in-advance flags of future days (planned promotions, planned closures).
PLAN_COLUMNS = ("store_id", "item_id", "date", "promo", "is_open")


def landing_root(home: ProjectHome) -> Path:
    return home.landing / PRODUCT


def pos_file(home: ProjectHome, day: date, store_id: str) -> Path:
    return day_folder(landing_root(home), POS_SALES, day) / f"{store_id}.csv"


def ecom_file(home: ProjectHome, day: date) -> Path:
    return landing_root(home) / ECOM_ORDERS / f"{day.isoformat()}.jsonl"


def inventory_file(home: ProjectHome, day: date) -> Path:
    return landing_root(home) / INVENTORY / f"{day.isoformat()}.parquet"


def products_file(home: ProjectHome) -> Path:
    return landing_root(home) / CATALOG / "products.csv"


def plan_file(home: ProjectHome) -> Path:
    return landing_root(home) / CATALOG / "plan.csv"


def stores_file(home: ProjectHome) -> Path:
    return landing_root(home) / CATALOG / "stores.csv"
