"""Demand contracts: the one shape every retail source is mapped onto, and the Pandera models
that verify the harmonized tables before anything downstream may read them."""

from importlib import resources
from pathlib import Path

import pandera.polars as pa
import polars as pl
from pandera.api.polars.model_config import BaseConfig
from pandera.api.polars.types import PolarsData

from intel_platform.core.contracts import Contract
from intel_platform.core.rules import spelling_table

MAX_UNITS = 100_000

SALES = Contract(
    name="sales",
    aliases={
        "line_id": ("pos_line_id", "order_line_id", "line"),
        "store_id": ("store", "fulfillment_store", "store_code", "location_id"),
        "item_id": ("sku", "product_sku", "item", "product_id"),
        "date": ("sale_date", "order_date", "day"),
        "units": ("qty", "quantity", "units_sold"),
        "price_per_unit": ("unit_price", "price", "sell_price"),
        "promo": ("on_promo", "promotion", "is_promo"),
        "is_open": ("open", "store_open"),
    },
    required=frozenset({"line_id", "store_id", "item_id", "date", "units", "price_per_unit"}),
)

INVENTORY = Contract(
    name="inventory",
    aliases={
        "store_id": ("store_code", "store"),
        "item_id": ("product_sku", "sku"),
        "date": ("snapshot_date",),
        "on_hand": ("qty_on_hand", "stock"),
        "on_order": ("qty_on_order",),
    },
    required=frozenset({"store_id", "item_id", "date", "on_hand"}),
)

PRODUCTS = Contract(
    name="products",
    aliases={
        "item_id": ("sku",),
        "item_name": ("name",),
        "category": ("cat", "cat_id"),
        "department": ("dept", "dept_id"),
        "launch_date": ("launched",),
        "base_price": ("list_price",),
    },
    required=frozenset({"item_id", "category", "launch_date", "base_price"}),
)

STORES = Contract(
    name="stores",
    aliases={
        "store_id": ("store",),
        "store_name": ("name",),
        "state": ("state_id", "region"),
        "open_date": ("opened",),
    },
    required=frozenset({"store_id", "open_date"}),
)

PLAN = Contract(
    name="plan",
    aliases={
        "store_id": ("store",),
        "item_id": ("sku", "item"),
        "date": ("day", "plan_date"),
        "promo": ("on_promo", "promotion", "is_promo"),
        "is_open": ("open", "store_open"),
    },
    required=frozenset({"store_id", "item_id", "date"}),
)

CATEGORY_ALIASES_FILE = "category_aliases.csv"


def category_aliases(user_mappings: Path | None = None) -> pl.DataFrame:
    """The shipped spelling -> category table plus the user's additions in the project home
    (``mappings/category_aliases.csv``), which win on conflict. Aliases are matched after
    lower-casing and collapsing white space."""
    shipped = resources.files("intel_platform.demand").joinpath(CATEGORY_ALIASES_FILE)
    user_file = user_mappings / CATEGORY_ALIASES_FILE if user_mappings else None
    return spelling_table(shipped, user_file).rename({"canonical": "category"})


class _Strict(BaseConfig):
    strict = True


class SalesModel(pa.DataFrameModel):
    """One row per source line; POS lines are store x item x day summaries."""

    source: str = pa.Field(isin=["pos", "ecom"])
    line_id: str = pa.Field(str_length={"min_value": 1})
    store_id: str
    item_id: str
    date: pl.Date
    units: pl.Int32 = pa.Field(ge=0, le=MAX_UNITS)
    price_per_unit: pl.Float32 = pa.Field(gt=0, nullable=True)
    promo: pl.Boolean
    is_open: pl.Boolean = pa.Field(nullable=True)
    source_file: str

    class Config(_Strict):
        unique = ["source", "line_id"]

    @pa.dataframe_check
    @classmethod
    def one_pos_row_per_store_item_day(cls, data: PolarsData) -> pl.LazyFrame:
        """A second POS summary for the same store-item-day would double demand."""
        key = pl.struct("store_id", "item_id", "date")
        return data.lazyframe.select(
            (pl.col("source") != "pos") | ~key.is_duplicated().over("source")
        )


class InventoryModel(pa.DataFrameModel):
    store_id: str
    item_id: str
    date: pl.Date
    on_hand: pl.Int32 = pa.Field(ge=0)
    on_order: pl.Int32 = pa.Field(ge=0, nullable=True)
    source_file: str

    class Config(_Strict):
        unique = ["store_id", "item_id", "date"]


class ProductsModel(pa.DataFrameModel):
    item_id: str = pa.Field(unique=True)
    item_name: str = pa.Field(nullable=True)
    category: str
    department: str = pa.Field(nullable=True)
    launch_date: pl.Date
    base_price: pl.Float32 = pa.Field(gt=0)
    source_file: str

    class Config(_Strict):
        pass


class StoresModel(pa.DataFrameModel):
    store_id: str = pa.Field(unique=True)
    store_name: str = pa.Field(nullable=True)
    state: str = pa.Field(nullable=True)
    open_date: pl.Date
    source_file: str

    class Config(_Strict):
        pass


class PlanModel(pa.DataFrameModel):
    """Known-in-advance flags per store x item x future day; a flag left empty is unplanned."""

    store_id: str
    item_id: str
    date: pl.Date
    promo: pl.Boolean = pa.Field(nullable=True)
    is_open: pl.Boolean = pa.Field(nullable=True)
    source_file: str

    class Config(_Strict):
        unique = ["store_id", "item_id", "date"]


FALLBACKS = ["none", "category", "store", "chain"]


class ForecastModel(pa.DataFrameModel):
    """One row per store x item x forecast day: what replenishment and people read."""

    store_id: str
    item_id: str
    date: pl.Date
    horizon: pl.Int16 = pa.Field(ge=1, le=366)
    p10: pl.Float32 = pa.Field(ge=0)
    p50: pl.Float32 = pa.Field(ge=0)
    p90: pl.Float32 = pa.Field(ge=0)
    fallback: str = pa.Field(isin=FALLBACKS)
    drivers: str = pa.Field(nullable=True)
    model_version: str
    data_as_of: pl.Date

    class Config(_Strict):
        unique = ["store_id", "item_id", "date"]

    @pa.dataframe_check
    @classmethod
    def quantiles_are_ordered(cls, data: PolarsData) -> pl.LazyFrame:
        """p10 <= p50 <= p90: a crossed interval means a broken quantile model."""
        return data.lazyframe.select(
            (pl.col("p10") <= pl.col("p50")) & (pl.col("p50") <= pl.col("p90"))
        )

    @pa.dataframe_check
    @classmethod
    def forecasts_start_after_the_data(cls, data: PolarsData) -> pl.LazyFrame:
        """A forecast for a day already observed is not a forecast."""
        return data.lazyframe.select(pl.col("date") > pl.col("data_as_of"))
