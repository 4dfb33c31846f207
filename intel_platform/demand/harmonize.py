"""Pure harmonization rules for demand: raw text rows in, (harmonized, rejected) out.

Every raw row lands in exactly one of the two outputs; a rejected row carries the first rule
it broke as ``reason``. Nothing here does I/O or reads a clock, so each rule is testable on a
three-row frame.
"""

from datetime import date

import polars as pl

from intel_platform.core.quarantine import first_reason
from intel_platform.core.rules import (
    canonical,
    first_row_per_key,
    flag,
    iso_date,
    normalized_spelling,
    number,
    split_by_reason,
    unparseable,
    whole,
)
from intel_platform.demand.contracts import (
    INVENTORY,
    MAX_UNITS,
    PLAN,
    PRODUCTS,
    SALES,
    STORES,
)

STORE_ITEM_DAY = ("store_id", "item_id", "date")
DEFAULT_MAX_PRICE_RATIO = 20.0
MAX_STOCK = 10_000_000

SALES_SCHEMA = {
    "source": pl.String, "line_id": pl.String, "store_id": pl.String, "item_id": pl.String,
    "date": pl.Date, "units": pl.Int32, "price_per_unit": pl.Float32, "promo": pl.Boolean,
    "is_open": pl.Boolean, "source_file": pl.String,
}  # fmt: skip
SALES_COLUMNS = list(SALES_SCHEMA)
INVENTORY_SCHEMA = {
    "store_id": pl.String, "item_id": pl.String, "date": pl.Date, "on_hand": pl.Int32,
    "on_order": pl.Int32, "source_file": pl.String,
}  # fmt: skip


def split_sales(
    raw: pl.DataFrame,
    *,
    source: str,
    stores: pl.DataFrame,
    products: pl.DataFrame,
    first: date,
    last: date,
    max_price_ratio: float = DEFAULT_MAX_PRICE_RATIO,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Harmonize raw POS or web-shop rows of partitions [first, last].

    ``products`` needs ``item_id`` and ``base_price`` (an absurd price is more than
    ``max_price_ratio`` times it); ``stores`` needs ``store_id``. Missing price stays null
    (a null-rate check watches it); every other broken field sends the row to quarantine.
    """
    rows = canonical(raw, SALES)
    rows = rows.join(
        products.select("item_id", pl.col("base_price").alias("_base_price"), _known_item=True),
        on="item_id",
        how="left",
    ).join(stores.select("store_id", _known_store=True), on="store_id", how="left")
    units, price, day = whole("units"), number("price_per_unit"), iso_date("date")
    reason = first_reason([
        ("missing_line_id", pl.col("line_id").is_null()),
        ("missing_units", pl.col("units").is_null()),
        ("unparseable_units", unparseable("units", units)),
        ("negative_units", units < 0),
        ("absurd_units", units > MAX_UNITS),
        ("unparseable_price", unparseable("price_per_unit", price)),
        ("non_positive_price", price <= 0),
        ("missing_date", pl.col("date").is_null()),
        ("unparseable_date", unparseable("date", day)),
        ("date_outside_partition", ~day.is_between(first, last)),
        ("unknown_store", pl.col("_known_store").is_null()),
        ("unknown_item", pl.col("_known_item").is_null()),
        ("absurd_price", price > pl.col("_base_price") * max_price_ratio),
        ("unparseable_promo", unparseable("promo", flag("promo"))),
        ("unparseable_is_open", unparseable("is_open", flag("is_open"))),
    ])  # fmt: skip
    typed = rows.with_columns(
        reason=reason,
        source=pl.lit(source),
        units=units.cast(pl.Int32, strict=False),
        price_per_unit=price.cast(pl.Float32),
        date=day,
        promo=flag("promo").fill_null(False),
        is_open=flag("is_open"),
        source_file=pl.col("_source_file"),
    )
    return split_by_reason(_mark_duplicates(typed, pos=source == "pos"), SALES_COLUMNS)


def _mark_duplicates(typed: pl.DataFrame, *, pos: bool) -> pl.DataFrame:
    """Of valid rows sharing a line id (or, for the POS, a store-item-day) the first wins."""
    typed = first_row_per_key(typed, ["line_id"], "duplicate_line_id")
    if pos:
        typed = first_row_per_key(
            typed, ["store_id", "item_id", "date"], "duplicate_store_item_day"
        )
    return typed


def split_inventory(
    raw: pl.DataFrame, *, stores: pl.DataFrame, products: pl.DataFrame, first: date, last: date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """End-of-day stock per store-item-day; one snapshot per key, counts never negative."""
    rows = canonical(raw, INVENTORY)
    rows = rows.join(products.select("item_id", _known_item=True), on="item_id", how="left")
    rows = rows.join(stores.select("store_id", _known_store=True), on="store_id", how="left")
    on_hand, on_order, day = whole("on_hand"), whole("on_order"), iso_date("date")
    reason = first_reason([
        ("missing_on_hand", pl.col("on_hand").is_null()),
        ("unparseable_on_hand", unparseable("on_hand", on_hand)),
        ("negative_on_hand", on_hand < 0),
        ("absurd_on_hand", on_hand > MAX_STOCK),
        ("unparseable_on_order", unparseable("on_order", on_order)),
        ("negative_on_order", on_order < 0),
        ("absurd_on_order", on_order > MAX_STOCK),
        ("unparseable_date", pl.col("date").is_null() | unparseable("date", day)),
        ("date_outside_partition", ~day.is_between(first, last)),
        ("unknown_store", pl.col("_known_store").is_null()),
        ("unknown_item", pl.col("_known_item").is_null()),
    ])  # fmt: skip
    typed = rows.with_columns(
        reason=reason,
        on_hand=on_hand.cast(pl.Int32, strict=False),
        on_order=on_order.cast(pl.Int32, strict=False),
        date=day,
        source_file=pl.col("_source_file"),
    )
    typed = first_row_per_key(typed, list(STORE_ITEM_DAY), "duplicate_store_item_day")
    return split_by_reason(typed, list(INVENTORY_SCHEMA))


def split_products(
    raw: pl.DataFrame, *, categories: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Catalog rows with the category spelled canonically via the alias table
    (``alias``, ``category``); a spelling nobody mapped yet is quarantined, not guessed."""
    rows = canonical(raw, PRODUCTS)
    rows = rows.with_columns(_spelling=normalized_spelling(pl.col("category"))).join(
        categories.rename({"alias": "_spelling", "category": "_canonical"}),
        on="_spelling", how="left",
    )  # fmt: skip
    price, launch = number("base_price"), iso_date("launch_date")
    reason = first_reason([
        ("missing_item_id", pl.col("item_id").is_null()),
        ("unknown_category", pl.col("_canonical").is_null()),
        ("unparseable_launch_date", pl.col("launch_date").is_null() | launch.is_null()),
        ("unparseable_price", pl.col("base_price").is_null() | price.is_null()),
        ("non_positive_price", price <= 0),
    ])  # fmt: skip
    typed = rows.with_columns(
        reason=reason,
        category=pl.col("_canonical"),
        launch_date=launch,
        base_price=price.cast(pl.Float32),
        source_file=pl.col("_source_file"),
    )
    typed = first_row_per_key(typed, ["item_id"], "duplicate_item_id")
    columns = [*PRODUCTS.aliases, "source_file"]
    return split_by_reason(typed, columns)


def split_plan(
    raw: pl.DataFrame, *, stores: pl.DataFrame, products: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Planned promotions and closures, one row per store x item x day; a flag nobody can read
    is quarantined rather than guessed (a wrong 'closed' would forecast a day as zero)."""
    rows = canonical(raw, PLAN)
    rows = rows.join(products.select("item_id", _known_item=True), on="item_id", how="left")
    rows = rows.join(stores.select("store_id", _known_store=True), on="store_id", how="left")
    day = iso_date("date")
    reason = first_reason([
        ("unparseable_date", pl.col("date").is_null() | day.is_null()),
        ("unknown_store", pl.col("_known_store").is_null()),
        ("unknown_item", pl.col("_known_item").is_null()),
        ("unparseable_promo", unparseable("promo", flag("promo"))),
        ("unparseable_is_open", unparseable("is_open", flag("is_open"))),
    ])  # fmt: skip
    typed = rows.with_columns(
        reason=reason, date=day, promo=flag("promo"), is_open=flag("is_open"),
        source_file=pl.col("_source_file"),
    )  # fmt: skip
    typed = first_row_per_key(typed, list(STORE_ITEM_DAY), "duplicate_plan_row")
    return split_by_reason(typed, [*PLAN.aliases, "source_file"])


def split_stores(raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows = canonical(raw, STORES)
    opened = iso_date("open_date")
    reason = first_reason([
        ("missing_store_id", pl.col("store_id").is_null()),
        ("unparseable_open_date", pl.col("open_date").is_null() | opened.is_null()),
    ])  # fmt: skip
    typed = rows.with_columns(reason=reason, open_date=opened, source_file=pl.col("_source_file"))
    typed = first_row_per_key(typed, ["store_id"], "duplicate_store_id")
    return split_by_reason(typed, [*STORES.aliases, "source_file"])


def daily_demand(sales: pl.LazyFrame) -> pl.LazyFrame:
    """Store x item x day demand from harmonized sales lines (POS summaries + web order lines).

    ``units`` = POS units + ecom units, but null when the day has no POS row: the POS total is
    unknown then, and a partial number would understate demand. ``price_per_unit`` is the POS
    price, else the units-weighted ecom price; ``promo`` is true if any line was on promotion;
    ``is_open`` comes from POS (false if any POS row says closed). Sorted by the grain, which
    the features rely on.
    """
    pos, ecom = pl.col("source") == "pos", pl.col("source") == "ecom"
    # Masks are applied before the group-by: plain sums and means per group take Polars' fast
    # path, filtered aggregations inside ``agg`` do not (10 s vs 1 s per M5 store).
    out = (
        sales.with_columns(
            pl.col("store_id", "item_id").cast(pl.Categorical),
            _pos=pos,
            _open=pl.when(pos).then(pl.col("is_open")),
            **_price_parts("pos", pos),
            **_price_parts("ecom", ecom),
        )
        .group_by(list(STORE_ITEM_DAY))
        .agg(
            *(pl.col(f"_{s}_{part}").sum() for s in ("pos", "ecom") for part in ("w", "wp")),
            *(pl.col(f"_{s}_p").mean() for s in ("pos", "ecom")),
            pl.col("_pos").sum().alias("_n_pos"),
            pl.col("units").cast(pl.Int64).sum().alias("_units"),
            pl.col("promo").any(),
            pl.col("_open").min().alias("is_open"),
        )
        .select(
            *list(STORE_ITEM_DAY),
            units=pl.when(pl.col("_n_pos") > 0).then(pl.col("_units")).cast(pl.Int32),
            price_per_unit=pl.coalesce(_weighted_price("pos"), _weighted_price("ecom")).cast(
                pl.Float32
            ),
            promo="promo",
            is_open="is_open",
        )
    )
    return out.sort(list(STORE_ITEM_DAY))


def _price_parts(source: str, mask: pl.Expr) -> dict[str, pl.Expr]:
    """Per line of ``source`` with a price: its weight (units), weighted price and price."""
    price = pl.col("price_per_unit").cast(pl.Float64)
    priced = mask & price.is_not_null()
    weight = pl.when(priced).then(pl.col("units").cast(pl.Float64))
    return {
        f"_{source}_w": weight,
        f"_{source}_wp": weight * price,
        f"_{source}_p": pl.when(priced).then(price),
    }


def _weighted_price(source: str) -> pl.Expr:
    """Units-weighted mean price of the source's lines; plain mean when they sold nothing."""
    weight, weighted = pl.col(f"_{source}_w"), pl.col(f"_{source}_wp")
    return pl.when(weight > 0).then(weighted / weight).otherwise(pl.col(f"_{source}_p"))


def expected_pos_keys(
    stores: pl.DataFrame,
    products: pl.DataFrame,
    first_seen: pl.DataFrame,
    first: date,
    last: date,
) -> pl.DataFrame:
    """Store-item-days the POS must report: every store x item the store has ever reported
    (``first_seen``: store_id, item_id, first_seen), from that first day on, while the store is
    open and the item launched. Zero sales are reported rows, so a dropped weekend or a store
    whose file never came shows up as missing keys; items a store never carried do not."""
    days = pl.DataFrame({"date": pl.date_range(first, last, eager=True)})
    return (
        first_seen.join(stores.select("store_id", "open_date"), on="store_id")
        .join(products.select("item_id", "launch_date"), on="item_id")
        .join(days, how="cross")
        .filter(
            (pl.col("first_seen") <= pl.col("date"))
            & (pl.col("open_date") <= pl.col("date"))
            & (pl.col("launch_date") <= pl.col("date"))
        )
        .select("store_id", "item_id", "date")
    )


def update_first_seen(first_seen: pl.DataFrame, arrived: pl.DataFrame) -> pl.DataFrame:
    """Fold a chunk's arrived POS keys into the first day each store-item was reported."""
    chunk = arrived.group_by("store_id", "item_id").agg(first_seen=pl.col("date").min())
    return (
        pl.concat([first_seen, chunk], how="vertical_relaxed")
        .group_by("store_id", "item_id")
        .agg(pl.col("first_seen").min())
    )
