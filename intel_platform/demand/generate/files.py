"""Where and how each source is written: the catalog (products and stores CSV), one POS CSV per
open store and day, one web-shop JSONL per day, each published whole and counted.

Why publish: a file appears in the landing zone only once complete, so a sensor never reads a
half-written one.
"""

from collections.abc import Callable
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl

from intel_platform.core.landing import publish
from intel_platform.demand import landing
from intel_platform.demand.generate.defects import (
    ECOM_BAD_RATE,
    ECOM_DUP_DAY_P,
    POS_DUP_FILE_P,
    UNKNOWN_STORES,
    category_spellings,
    corrupt_pos,
    pick_bad,
    with_duplicates,
)
from intel_platform.demand.generate.world import DEPARTMENTS, Run

STATES = ("CA", "TX", "WI")


def write_catalog(run: Run, start: date) -> None:
    """Reference data: stores with their opening date, products with launch date and price."""
    world, rng = run.world, run.rng
    picks = rng.random(world.cat.size)
    departments = [
        DEPARTMENTS[c][int(p * len(DEPARTMENTS[c]))] for c, p in zip(world.cat, picks, strict=True)
    ]
    iso = [(start + timedelta(days=int(d))).isoformat() for d in world.launch]
    products = pl.DataFrame(
        {
            "item_id": world.item_ids,
            "item_name": [f"{d} product {i + 1}" for i, d in enumerate(departments)],
            "category": category_spellings(rng, world.cat),
            "department": departments,
            "launch_date": iso,
            "base_price": world.base_price,
        }
    ).select(landing.PRODUCT_COLUMNS)
    n = len(world.store_ids)
    stores = pl.DataFrame(
        {
            "store_id": world.store_ids,
            "store_name": [f"Store {s + 1}" for s in range(n)],
            "state": [STATES[s % len(STATES)] for s in range(n)],
            "open_date": [(start + timedelta(days=int(d))).isoformat() for d in world.open_day],
        }
    ).select(landing.STORE_COLUMNS)
    publish_counted(
        run, landing.products_file(run.home), partial(products.write_csv, float_precision=2)
    )
    publish_counted(run, landing.stores_file(run.home), stores.write_csv)


def publish_counted(run: Run, path: Path, write: Callable[[Path], object]) -> None:
    publish(path, write)
    run.tally["files_written"] += 1


def write_pos(
    run: Run, day: date, cells: pl.DataFrame, per_store: np.ndarray, columns: dict[str, np.ndarray]
) -> None:
    """One CSV per open store: every live item, zero-sales rows included (missing != zero)."""
    dates = corrupt_pos(run, columns, day)
    bad = columns.pop("bad")
    frame = cells.select(
        pos_line_id=pl.concat_str(pl.lit(f"P-{day.isoformat()}-"), "suffix"),
        store=pl.col("store"),
        item_id=pl.col("item_id"),
        sale_date=dates,
        **{name: pl.Series(values) for name, values in columns.items()},
    ).select(landing.POS_COLUMNS)
    offsets = np.concatenate([[0], np.cumsum(per_store)])
    for s, store in enumerate(run.world.store_ids):
        lo, hi = int(offsets[s]), int(offsets[s + 1])
        if hi == lo:
            continue
        part, dups = with_duplicates(run.rng, frame.slice(lo, hi - lo), bad[lo:hi], POS_DUP_FILE_P)
        publish_counted(
            run, landing.pos_file(run.home, day, store), partial(part.write_csv, float_precision=2)
        )
        run.tally["pos_rows"] += part.height
        run.tally["pos_duplicates"] += dups


def write_ecom(
    run: Run, day: date, orders: dict[str, np.ndarray], price: np.ndarray, on_promo: np.ndarray
) -> None:
    """One JSONL per day; a few lines name a store that does not exist, one may be re-sent."""
    sku, n = orders["sku"], orders["sku"].size
    stores = pl.Series(run.world.store_ids, dtype=pl.String).gather(orders["store"])
    idx = pick_bad(run, n, ECOM_BAD_RATE)
    if idx.size:
        stores = stores.scatter(idx, run.rng.choice(UNKNOWN_STORES, idx.size).tolist())
    run.tally["unknown_store"] += idx.size
    stamps = pl.Series(np.datetime64(day, "ms") + orders["seconds"] * np.timedelta64(1, "s"))
    frame = pl.DataFrame(
        {
            "order_line_id": [f"E-{day.isoformat()}-{i + 1:05d}" for i in range(n)],
            "fulfillment_store": stores,
            "sku": pl.Series(run.world.item_ids, dtype=pl.String).gather(sku),
            "order_date": stamps.dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "qty": pl.Series(orders["qty"], dtype=pl.Int64),
            "price_per_unit": pl.Series(price[sku], dtype=pl.Float64),
            "promotion": pl.Series(on_promo[sku], dtype=pl.Boolean),
        },
        schema_overrides={"order_line_id": pl.String},
    ).select(landing.ECOM_COLUMNS)
    frame, dups = with_duplicates(run.rng, frame, np.isin(np.arange(n), idx), ECOM_DUP_DAY_P)
    publish_counted(run, landing.ecom_file(run.home, day), frame.write_ndjson)
    run.tally["ecom_rows"] += frame.height
    run.tally["ecom_duplicates"] += dups
