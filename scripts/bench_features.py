"""Wall time and peak RSS of ``build_features`` at the M5 shape (10 x 3049 x 1941 store-item-days).

Synthesises the daily frame itself (seeded numpy, ``daily_demand``'s dtypes: categorical ids,
Int32 units, Float32 price), drops a small share of store-item-days so the grid completion is
exercised, then collects with the streaming engine. Peak RSS is the process high-water mark
(``resource.getrusage``), printed before and after so the input's share is visible.

    .venv/bin/python scripts/bench_features.py [--stores 10 --items 3049 --days 1941]
    .venv/bin/python scripts/bench_features.py --mode batches   # consume output batch by batch
    .venv/bin/python scripts/bench_features.py --mode write     # per store, written as Parquet

``write`` is the floor of the features asset: the same pass plus the Parquet write the asset
cannot avoid (compare with scripts/bench_features_asset.py).
"""

import argparse
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from intel_platform.demand.features import build_features, catalog_codes

START = date(2011, 1, 29)  # M5's first day
CATEGORIES = ("Electronics", "Grocery", "Household", "Hobbies", "Apparel")


def peak_rss_gib() -> float:
    """Process high-water mark; ru_maxrss is KiB on Linux, bytes on macOS."""
    scale = 2**30 if sys.platform == "darwin" else 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def synth_daily(n_stores: int, n_items: int, n_days: int, seed: int = 0) -> pl.DataFrame:
    """M5-shaped daily demand, sorted by grain, built one store at a time to keep peak low."""
    rng = np.random.default_rng(seed)
    stores = pl.Enum([f"STORE_{s:02d}" for s in range(n_stores)])
    items = pl.Enum([f"ITEM_{i:05d}" for i in range(n_items)])
    first = (START - date(1970, 1, 1)).days
    chunks = []
    for store in range(n_stores):
        n = n_items * n_days
        keep = rng.random(n) >= 0.001  # 0.1 % missing POS rows: the grid must re-insert them
        item = np.repeat(np.arange(n_items, dtype=np.uint16), n_days)[keep]
        price = rng.integers(50, 2000, n_items).astype(np.float32) / 100
        chunks.append(
            pl.DataFrame(
                {
                    "store_id": pl.Series(np.full(keep.sum(), store, np.uint8)).cat.to(stores),
                    "item_id": pl.Series(item).cat.to(items),
                    "date": pl.Series(
                        np.tile(np.arange(n_days, dtype=np.int32) + first, n_items)[keep]
                    ).cast(pl.Date),
                    "units": rng.poisson(1.1, n).astype(np.int32)[keep],
                    "price_per_unit": price[item],
                    "promo": (rng.random(n) < 0.05)[keep],
                    "is_open": np.ones(keep.sum(), dtype=bool),
                }
            ).with_columns(pl.col("store_id", "item_id").cast(pl.Categorical))
        )
    return pl.concat(chunks, rechunk=False)  # a rechunk would double the peak for a moment


def synth_products(n_items: int) -> pl.DataFrame:
    """Catalog for the synthetic items: five categories, 20 departments."""
    codes = np.arange(n_items)
    return pl.DataFrame(
        {
            "item_id": [f"ITEM_{i:05d}" for i in codes],
            "category": [CATEGORIES[i % 5] for i in codes],
            "department": [f"DEPT_{i % 20:02d}" for i in codes],
        }
    )


def cpu_seconds() -> float:
    """User + system CPU of this process: wall time alone hides contention on a shared box."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(daily: pl.DataFrame, products: pl.DataFrame, mode: str) -> tuple[int, float]:
    """Rows and GiB produced. ``collect``: the whole frame at once (what the brief measures);
    ``batches``: streamed batches, nothing kept; ``per-store``: one store at a time, each
    collected then dropped, as a store-partitioned asset would run; ``write``: per store, and
    each store written to Parquet (Polars' defaults, as the asset writes its parts)."""
    if mode == "collect":
        out = build_features(daily.lazy(), products).collect(engine="streaming")
        return out.height, out.estimated_size() / 2**30
    if mode == "batches":
        batches = build_features(daily.lazy(), products).collect_batches(engine="streaming")
        sizes = [(b.height, b.estimated_size()) for b in batches]
        return sum(h for h, _ in sizes), sum(z for _, z in sizes) / 2**30
    stores = daily.select(pl.col("store_id").unique().cast(pl.String))
    codes = catalog_codes(products, stores)
    rows, size = 0, 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for store in stores["store_id"]:
            part = daily.lazy().filter(pl.col("store_id") == store)
            out = build_features(part, products, codes=codes).collect(engine="streaming")
            if mode == "write":
                out.write_parquet(Path(scratch) / f"{store}.parquet")
            rows, size = rows + out.height, size + out.estimated_size() / 2**30
    return rows, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=10)
    parser.add_argument("--items", type=int, default=3049)
    parser.add_argument("--days", type=int, default=1941)
    modes = ["collect", "batches", "per-store", "write"]
    parser.add_argument("--mode", choices=modes, default="collect")
    args = parser.parse_args()
    daily = synth_daily(args.stores, args.items, args.days)
    products = synth_products(args.items)
    print(f"input rows      {daily.height:>12,}  ({daily.estimated_size() / 2**30:.2f} GiB)")
    print(f"peak RSS before {peak_rss_gib():>12.2f} GiB")
    started, cpu = time.perf_counter(), cpu_seconds()
    rows, gib = run(daily, products, args.mode)
    print(f"output rows     {rows:>12,}  ({gib:.2f} GiB, mode {args.mode})")
    print(
        f"seconds         {time.perf_counter() - started:>12.2f}  (CPU {cpu_seconds() - cpu:.2f})"
    )
    print(f"peak RSS        {peak_rss_gib():>12.2f} GiB")


if __name__ == "__main__":
    main()
