"""What both importers share: the summary they return and the writers that land POS files and
catalogs, refusing a landing zone that already holds another data set."""

from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import polars as pl

from intel_platform.core.home import ProjectHome
from intel_platform.core.landing import publish, refuse_foreign_files
from intel_platform.core.rules import normalized_spelling
from intel_platform.demand import landing as zone
from intel_platform.demand.contracts import category_aliases

__all__ = [
    "DAYS_PER_BLOCK",
    "UNPRICED_BASE_PRICE",
    "ImportSummary",
    "check_categories",
    "check_landing",
    "events_file",
    "line_id",
    "publish_catalogs",
    "publish_pos",
]

DAYS_PER_BLOCK = 28  # 30k series x 28 days ~ 0.85 M rows in memory at a time
UNPRICED_BASE_PRICE = 1.0


@dataclass(frozen=True)
class ImportSummary:
    """What an import landed, for the CLI to print and tests to assert on."""

    stores: int
    items: int
    days: int
    pos_rows: int
    files_written: int
    first_date: date
    last_date: date


def events_file(home: ProjectHome) -> Path:
    """Calendar events (holidays, sports, religious days) that features may use as holidays."""
    return zone.landing_root(home) / zone.CATALOG / "events.csv"


def _write_text(text: str, path: Path) -> None:
    path.write_text(text, encoding="utf-8")


def line_id(prefix: str) -> pl.Expr:
    """``<prefix>-<store>-<item>-<date>``: unique because (store, item, date) is the grain."""
    day = pl.col("sale_date").cast(pl.String)
    return pl.concat_str(pl.lit(prefix), "store", "item_id", day, separator="-")


def publish_pos(home: ProjectHome, rows: pl.DataFrame) -> int:
    """One POS file per (day, store) run of ``rows``; returns how many were written.

    Rows are rendered to CSV once and sliced per file (a long table can mean a million tiny
    store-day files); callers pass them grouped by day and store, else they are sorted here.
    """
    key = pl.struct("sale_date", "store")
    runs = rows.select(run=key.rle()).unnest("run").unnest("value")
    if runs.select("sale_date", "store").is_duplicated().any():
        rows = rows.sort("sale_date", "store", "item_id")
        runs = rows.select(run=key.rle()).unnest("run").unnest("value")
    header, lines = ",".join(rows.columns), rows.write_csv(include_header=False).split("\n")
    start = 0
    for count, day, store in runs.iter_rows():
        body = "\n".join([header, *lines[start : start + count], ""])
        publish(zone.pos_file(home, day, store), partial(_write_text, body))
        start += count
    return runs.height


def check_landing(home: ProjectHome, targets: set[Path]) -> None:
    """Any landed sales, web-order or inventory file."""
    refuse_foreign_files(
        zone.landing_root(home), (zone.POS_SALES, zone.ECOM_ORDERS, zone.INVENTORY), targets
    )


def publish_catalogs(home: ProjectHome, products: pl.DataFrame, stores: pl.DataFrame) -> int:
    """Reference files are replaced whole: they describe the data set just landed.

    The product contract needs a positive base price; an item never priced (a table without a
    price column) gets ``UNPRICED_BASE_PRICE``, so units double as revenue.
    """
    price = pl.col("base_price").fill_null(UNPRICED_BASE_PRICE)
    products = products.with_columns(price).select(zone.PRODUCT_COLUMNS).sort("item_id")
    publish(zone.products_file(home), products.write_csv)
    publish(zone.stores_file(home), stores.select(zone.STORE_COLUMNS).sort("store_id").write_csv)
    return 2


def check_categories(home: ProjectHome, spellings: list[str], origin: str) -> None:
    """Only spellings the harmonized layer maps (shipped aliases plus the home's own): an unknown
    one would quarantine the whole catalog, and an invented one would split a department."""
    known = category_aliases(home.mappings)
    given = pl.Series(spellings, dtype=pl.String)
    if (unknown := given.filter(~normalized_spelling(given).is_in(known["alias"]))).len():
        mine = home.mappings / "category_aliases.csv"
        raise ValueError(
            f"{origin}: category {unknown[0]!r} is not in category_aliases.csv (known: "
            f"{', '.join(known['category'].unique().sort())}); add it to {mine}"
        )
