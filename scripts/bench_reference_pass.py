"""The hand-written Polars reference pass of issue #4, measured on this machine, against the asset.

Issue #4 asks the features asset to stay within 1.5x of a plain Polars pass over the M5 shape
(lags 7/14/28/364 of units, past-only rolling mean/std over 7 and 28 days, calendar columns).
This script is that pass, written straightforwardly, on the same input as the asset: the
``demand_harmonized.daily_demand`` table of the fixture that ``scripts/bench_features_asset.py
build`` writes (default /tmp/feat_scale). Per store it completes each store x item series' date
grid (a missing day becomes a null-units row, so a day offset is a row offset), then computes
whole-column lags and windows (``shift(1)`` before ``rolling_*``, masked where the window would
reach the previous series: series are contiguous and sorted by item and date) and calendar
columns, with narrow dtypes, on the streaming engine. Values equal the asset's, except that a
window is null until the series has w days of past (the asset averages partial windows); the
asset's other columns (price change, holidays, codes, days since first sale) and checks are not
computed here.

``export`` writes the daily demand once to one sorted Parquet file per store (its cost is
printed, but it is paid once, outside the pass). ``run`` measures, each in its own child process
(wall time, user + system CPU seconds and peak RSS from ``wait4``):

    a  read-excluded, collect only: scan the per-store Parquet, collect each store's features
    b  read-excluded, write: the same, ``sink_parquet`` one file per store
    c  read-included: each store read from DuckDB (into Arrow, then Polars), features written

then ``scripts/bench_features_asset.py run --repeat 1`` right after (the asset's own wall, CPU
and peak RSS, and its import-only floor), so the reference and the asset share the load; it
repeats that round ``--repeat`` times and prints asset / reference ratios per round.

    .venv/bin/python scripts/bench_reference_pass.py export [--home /tmp/feat_scale]
    .venv/bin/python scripts/bench_reference_pass.py run [--home /tmp/feat_scale] [--repeat 2]
    .venv/bin/python scripts/bench_reference_pass.py run --no-asset   # the reference only
    .venv/bin/python scripts/bench_reference_pass.py run --workers 2  # two stores at a time

Outputs go to --out (default /tmp/ref_pass), never into the fixture's project home.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl

LAGS = (7, 14, 28, 364)
WINDOWS = (7, 28)
COLUMNS = ("item_id", "date", "units", "price_per_unit", "promo", "is_open")
TABLE = "demand_harmonized.daily_demand"
ASSET_SCRIPT = Path(__file__).with_name("bench_features_asset.py")
# DuckDB caches scanned blocks up to 80 % of RAM by default; the asset caps it the same way.
DUCKDB_MEMORY = "128MB"


def features(daily: pl.LazyFrame, store: str) -> pl.LazyFrame:
    """One store's features from its daily demand, sorted by item and date."""
    same_item = pl.col("item_id") == pl.col("item_id").shift(1)
    gap = pl.when(same_item).then((pl.col("date") - pl.col("date").shift(1)).dt.total_days())
    observed = pl.col("_back") == 0
    grid = (  # complete each series' dates: a row expands to the days since the previous row
        daily.select(
            pl.col("item_id").cast(pl.Categorical),
            "date",
            pl.col("units").cast(pl.Int16),
            pl.col("price_per_unit").cast(pl.Float32),
            "promo",
            "is_open",
        )
        .with_columns(_back=pl.int_ranges(gap.fill_null(1) - 1, -1, -1, dtype=pl.Int32))
        .explode("_back")
        .select(
            "item_id",
            pl.col("date") - pl.duration(days=pl.col("_back")),
            *(
                pl.when(observed).then(pl.col(c)).alias(c)
                for c in ("units", "price_per_unit", "promo", "is_open")
            ),
        )
    )

    def in_series(k: int) -> pl.Expr:  # the row k back belongs to the same series
        return pl.col("item_id").shift(k) == pl.col("item_id")

    units = pl.col("units")
    past = units.cast(pl.Float32).shift(1)  # a window over it covers days d-w .. d-1
    date_ = pl.col("date")
    return grid.select(
        pl.lit(store).cast(pl.Categorical).alias("store_id"),
        "item_id",
        "date",
        "units",
        *(pl.when(in_series(k)).then(units.shift(k)).alias(f"units_lag_{k}") for k in LAGS),
        *(
            expr
            for w in WINDOWS
            for expr in (
                pl.when(in_series(w))
                .then(past.rolling_mean(w, min_samples=1))
                .alias(f"units_mean_{w}"),
                pl.when(in_series(w))
                .then(past.rolling_std(w, min_samples=2))
                .alias(f"units_std_{w}"),
            )
        ),
        "price_per_unit",
        "promo",
        "is_open",
        date_.dt.weekday().alias("day_of_week"),
        date_.dt.week().alias("week_of_year"),
        date_.dt.month().alias("month"),
        date_.dt.year().cast(pl.Int16).alias("year"),
        date_.dt.day().alias("day_of_month"),
    )


def stores(home: Path) -> list[str]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        return [
            s
            for (s,) in conn.execute(f"SELECT DISTINCT store_id FROM {TABLE} ORDER BY 1").fetchall()
        ]


def store_query(store: str) -> str:
    where = f"WHERE store_id = '{store}' ORDER BY item_id, date"
    return f"SELECT {', '.join(COLUMNS)} FROM {TABLE} {where}"


def export(home: Path, out: Path) -> None:
    """Daily demand to ``out/daily/<store>.parquet``, sorted by item and date."""
    target = out / "daily"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        conn.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
        for store in stores(home):
            conn.execute(
                f"COPY ({store_query(store)}) TO '{target / store}.parquet' (FORMAT parquet)"
            )


def reference(home: Path, out: Path, variant: str, workers: int) -> None:
    """One variant of the pass (the child process): a collect, b write, c DuckDB + write.
    ``workers`` > 1 runs that many stores at once (threads: Polars and DuckDB release the GIL)."""
    target = out / f"features_{variant}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    conn = None
    if variant == "c":
        conn = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
        conn.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")

    def one(store: str) -> int:
        if conn is not None:
            with conn.cursor() as cursor:
                table = cursor.execute(store_query(store)).to_arrow_table()
            daily = pl.from_arrow(table).lazy()
        else:
            daily = pl.scan_parquet(out / "daily" / f"{store}.parquet")
        frame = features(daily, store)
        if variant == "a":
            return frame.collect(engine="streaming").height
        frame.sink_parquet(target / f"{store}.parquet", engine="streaming")
        return 0

    with ThreadPoolExecutor(max_workers=workers) as pool:
        rows = sum(pool.map(one, stores(home)))
    if variant != "a":
        rows = pl.scan_parquet(target / "*.parquet").select(pl.len()).collect().item()
    print(f"rows {rows:,}")


def child(args: list[str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS (GiB) and stdout of one child."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{args} failed:\n{stdout}")
    scale = 2**30 if sys.platform == "darwin" else 2**20
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / scale, stdout


def _figures(wall: float, cpu: float, rss: float) -> str:
    return f"wall {wall:6.1f} s  CPU {cpu:6.1f} s  peak RSS {rss:.2f} GiB"


def _asset(home: Path) -> tuple[tuple[float, float, float], str]:
    """``bench_features_asset.py run --repeat 1``: its figures for the asset run, and its log."""
    *_, stdout = child([str(ASSET_SCRIPT), "run", "--home", str(home), "--repeat", "1"])
    number = r"\s+([\d.]+)"
    found = re.search(rf"asset run 1\s+wall{number} s\s+CPU{number} s\s+peak RSS{number}", stdout)
    if found is None:
        raise SystemExit(f"unexpected output of {ASSET_SCRIPT.name}:\n{stdout}")
    wall, cpu, rss = (float(x) for x in found.groups())
    return (wall, cpu, rss), stdout


def run(home: Path, out: Path, repeat: int, asset: bool, workers: int) -> None:
    me = [__file__, "--home", str(home), "--out", str(out), "--workers", str(workers)]
    if not (out / "daily").is_dir():
        wall, cpu, rss, _ = child([*me, "_export"])
        print(f"export (once)        {_figures(wall, cpu, rss)}")
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    print(f"started {now} UTC, {os.cpu_count()} cores, {workers} store(s) at a time")
    labels = {"a": "a read-excl collect", "b": "b read-excl write", "c": "c read-incl write"}
    for attempt in range(1, repeat + 1):
        figures = {}
        for variant, label in labels.items():
            wall, cpu, rss, stdout = child([*me, f"_{variant}"])
            figures[variant] = (wall, cpu, rss)
            print(f"round {attempt} {label:<20} {_figures(wall, cpu, rss)}  {stdout.strip()}")
        if not asset:
            continue
        figures["asset"], log = _asset(home)
        floor = next((line for line in log.splitlines() if line.startswith("imports only")), "")
        print(f"round {attempt} {'asset':<20} {_figures(*figures['asset'])}")
        print(f"round {attempt} {'asset ' + floor}")
        for variant in ("b", "c"):
            ratios = (a / r for a, r in zip(figures["asset"], figures[variant], strict=True))
            wall, cpu, rss = ratios
            ratio = f"wall {wall:.2f}x  CPU {cpu:.2f}x  RSS {rss:.2f}x"
            print(f"round {attempt} asset / {variant}: {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["export", "run", "_export", "_a", "_b", "_c"])
    parser.add_argument("--home", type=Path, default=Path("/tmp/feat_scale"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/ref_pass"))
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="stores processed at once")
    parser.add_argument("--no-asset", dest="asset", action="store_false")
    args = parser.parse_args()
    if args.mode == "export":
        wall, cpu, rss, _ = child(
            [__file__, "_export", "--home", str(args.home), "--out", str(args.out)]
        )
        print(f"export (once)        {_figures(wall, cpu, rss)}")
    elif args.mode == "_export":
        export(args.home, args.out)
    elif args.mode == "run":
        run(args.home, args.out, args.repeat, args.asset, args.workers)
    else:
        reference(args.home, args.out, args.mode.strip("_"), args.workers)


if __name__ == "__main__":
    main()
