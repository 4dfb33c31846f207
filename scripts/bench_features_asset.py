"""Wall time and peak RSS of the features asset at the M5 shape, without the 20-minute pipeline.

``build`` writes an M5-shaped warehouse straight into a scratch project home with DuckDB SQL
(seconds, not the generate/ingest/harmonize pipeline): ``demand_harmonized.sales`` with the
harmonizer's dtypes (``harmonize.SALES_SCHEMA``) and physical order (28-day chunks inserted in
date order, each sorted by store, item, date, source, line id), one POS line per
store-item-day (~2 % missing) plus ~1,350 web-order lines a day, and the ``products`` and
``stores`` reference tables; then it materializes ``demand/harmonized/daily_demand`` over the
whole history in one run (what the harmonize backfill pays once) and prints that cost. ``run``
materializes ``demand/features/store_item_day`` from scratch (the table removed first, so it
is a full build) in a child process and prints its wall time, CPU and peak RSS (``ru_maxrss``
of that child, from ``wait4``), then the import-only floor of the same process. ``land`` is
the daily cost: after a full build it appends ``--repeat`` new days to the daily demand table
one at a time (the last day's rows, units shuffled), materializes the features after each
(the incremental run), then one run with nothing new, and deletes the added days again.
The box is shared: compare with scripts/bench_reference_pass.py run just before.

    .venv/bin/python scripts/bench_features_asset.py build [--home /tmp/feat_scale]
    .venv/bin/python scripts/bench_features_asset.py run [--home /tmp/feat_scale] [--repeat 2]
    .venv/bin/python scripts/bench_features_asset.py land [--home /tmp/feat_scale] [--repeat 3]
    .venv/bin/python scripts/bench_features_asset.py build --stores 2 --items 500 --days 400
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

START = date(2011, 1, 29)  # M5's first day
CHUNK_DAYS = 28  # HarmonizeConfig.chunk_days: the harmonizer inserts this many days at a time
ECOM_LINES_PER_DAY = 1350
MISSING_POS_PER_MILLE = 20

SALES_DDL = """
CREATE SCHEMA IF NOT EXISTS demand_harmonized;
CREATE OR REPLACE TABLE demand_harmonized.sales (
    source VARCHAR, line_id VARCHAR, store_id VARCHAR, item_id VARCHAR, date DATE,
    units INTEGER, price_per_unit FLOAT, promo BOOLEAN, is_open BOOLEAN, source_file VARCHAR
);
"""

# One chunk of sales lines, sorted as ``harmonized._split_sources`` sorts it before the insert.
# Prices step every 60 days; Christmas is closed (POS row, 0 units, is_open false).
CHUNK_SQL = """
INSERT INTO demand_harmonized.sales
WITH days AS (
    SELECT (DATE '{start}' + d::INTEGER) AS date, d FROM range({lo}, {hi}) t(d)
), pos AS (
    SELECT 'pos' AS source, s, i, date, d,
           hash(s, i, d) AS h
    FROM range({stores}) a(s), range({items}) b(i), days
), ecom AS (
    SELECT 'ecom' AS source, hash(d, n, 1) % {stores} AS s, hash(d, n, 2) % {items} AS i,
           date, d, hash(d, n, 3) AS h, n
    FROM days, range({ecom}) c(n)
), lines AS (
    SELECT source, s, i, date, d, h, NULL::BIGINT AS n FROM pos
    WHERE h % 1000 >= {missing}
    UNION ALL SELECT source, s, i, date, d, h, n FROM ecom
)
SELECT
    source,
    CASE WHEN source = 'pos'
        THEN 'P-' || strftime(date, '%Y-%m-%d') || '-S' || lpad((s + 1)::VARCHAR, 2, '0')
             || '-I' || lpad((i + 1)::VARCHAR, 5, '0')
        ELSE 'E-' || strftime(date, '%Y-%m-%d') || '-' || lpad((n + 1)::VARCHAR, 5, '0')
    END AS line_id,
    'S' || lpad((s + 1)::VARCHAR, 2, '0') AS store_id,
    'I' || lpad((i + 1)::VARCHAR, 5, '0') AS item_id,
    date,
    CASE WHEN source = 'ecom' THEN 1 + (h >> 8) % 3
         WHEN month(date) = 12 AND day(date) = 25 THEN 0
         ELSE ((h >> 8) % 7) * ((h >> 16) % 3) // 2 END::INTEGER AS units,
    CASE WHEN (h >> 24) % 50 = 0 AND source = 'pos' THEN NULL
         ELSE round(0.5 + (i % 97) * 0.2 + 0.25 * ((d // 60) % 3), 2) END::FLOAT AS price_per_unit,
    (h >> 32) % 20 = 0 AS promo,
    CASE WHEN source = 'pos' THEN NOT (month(date) = 12 AND day(date) = 25) END AS is_open,
    CASE WHEN source = 'pos'
        THEN 'demand/pos_sales/' || strftime(date, '%Y-%m-%d') || '/S'
             || lpad((s + 1)::VARCHAR, 2, '0') || '.csv'
        ELSE 'demand/ecom_orders/' || strftime(date, '%Y-%m-%d') || '.jsonl'
    END AS source_file
FROM lines
ORDER BY store_id, item_id, date, source, line_id
"""

REFERENCE_SQL = """
CREATE OR REPLACE TABLE demand_harmonized.products AS
SELECT 'I' || lpad((i + 1)::VARCHAR, 5, '0') AS item_id,
       'Product ' || (i + 1) AS item_name,
       ['Grocery', 'Household', 'Hobbies', 'Electronics', 'Apparel'][i % 5 + 1] AS category,
       'D' || lpad((i % 20)::VARCHAR, 2, '0') AS department,
       DATE '{start}' AS launch_date,
       round(0.5 + (i % 97) * 0.2, 2)::DOUBLE AS base_price
FROM range({items}) t(i) ORDER BY item_id;
CREATE OR REPLACE TABLE demand_harmonized.stores AS
SELECT 'S' || lpad((s + 1)::VARCHAR, 2, '0') AS store_id, 'Store ' || (s + 1) AS store_name,
       ['CA', 'TX', 'WI'][s % 3 + 1] AS state, DATE '{start}' AS open_date
FROM range({stores}) t(s) ORDER BY store_id;
"""


def build(home: Path, stores: int, items: int, days: int) -> None:
    """Write the warehouse; each chunk is one insert, as a history backfill writes it."""
    home.mkdir(parents=True, exist_ok=True)
    warehouse = home / "warehouse.duckdb"
    warehouse.unlink(missing_ok=True)
    started = time.perf_counter()
    shape = {"start": START.isoformat(), "stores": stores, "items": items}
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(SALES_DDL)
        conn.execute(REFERENCE_SQL.format(**shape))
        for lo in range(0, days, CHUNK_DAYS):
            hi = min(days, lo + CHUNK_DAYS)
            ecom = ECOM_LINES_PER_DAY * stores * items // (10 * 3049)
            conn.execute(
                CHUNK_SQL.format(**shape, lo=lo, hi=hi, ecom=ecom, missing=MISSING_POS_PER_MILLE)
            )
        counts = conn.execute(
            "SELECT source, count(*) FROM demand_harmonized.sales GROUP BY ALL ORDER BY 1"
        ).fetchall()
    size = warehouse.stat().st_size / 2**30
    last = START + timedelta(days=days - 1)
    print(f"shape           {stores} stores x {items} items x {days} days ({START}..{last})")
    for source, n in counts:
        print(f"sales {source:<9} {n:>12,} lines")
    print(f"warehouse       {size:>12.2f} GiB  built in {time.perf_counter() - started:.1f} s")


def materialize(home: Path, target: str) -> None:
    """The child: one in-process run, as the local executor runs it. ``daily``: the daily
    demand table over the whole history (one single-run backfill, as the harmonize step runs
    it); ``features``: the feature table."""
    import dagster as dg  # noqa: PLC0415  (the parent process must not pay for it)
    from dagster_duckdb import DuckDBResource  # noqa: PLC0415

    from intel_platform.core.resources import ProjectHomeResource  # noqa: PLC0415
    from intel_platform.core.runs import RANGE_END_TAG, RANGE_START_TAG  # noqa: PLC0415
    from intel_platform.demand.features import store_item_day  # noqa: PLC0415
    from intel_platform.demand.harmonized import daily_demand_table  # noqa: PLC0415

    resources = {
        "warehouse": DuckDBResource(database=str(home / "warehouse.duckdb")),
        "project_home": ProjectHomeResource(path=str(home)),
    }
    asset, tags = store_item_day, {}
    if target == "daily":
        with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
            first, last = conn.execute(
                "SELECT min(date), max(date) FROM demand_harmonized.sales"
            ).fetchone()
        asset = daily_demand_table
        tags = {RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()}
    started = time.perf_counter()
    result = dg.materialize([asset], resources=resources, tags=tags)
    seconds = time.perf_counter() - started
    materialization = result.asset_materializations_for_node(asset.op.name)[0]
    metadata = materialization.metadata
    passed = all(c.passed for c in result.get_asset_check_evaluations())
    line = f"in-run seconds  {seconds:>12.2f}  rows {metadata['dagster/row_count'].value:,}"
    if "rows_written" in metadata:
        line += f"  written {metadata['rows_written'].value:,}"
        line += f"  from {metadata['recomputed_from'].value}"
    print(f"{line}  checks passed {passed}")


DAILY = "demand_harmonized.daily_demand"
# A landing day: the last day's rows a day later, units shuffled so its fingerprint is new.
LAND_SQL = f"""
INSERT INTO {DAILY}
SELECT store_id, item_id, date + 1, (units * 7 + 3) % 11, price_per_unit, promo, is_open
FROM {DAILY} WHERE date = (SELECT max(date) FROM {DAILY})
"""


def land(home: Path, days: int) -> None:
    """The daily cost at this shape: a full build, then ``days`` landing days one at a time,
    then a run with nothing new; the fixture gets its original days back afterwards."""
    warehouse = str(home / "warehouse.duckdb")
    with duckdb.connect(warehouse) as conn:
        (last,) = conn.execute(f"SELECT max(date) FROM {DAILY}").fetchone()
    print(f"full build      {_figures(*child(home, '_features', fresh=True))}")
    try:
        for n in range(1, days + 1):
            with duckdb.connect(warehouse) as conn:
                conn.execute(LAND_SQL)
            print(f"landing day {n}   {_figures(*child(home, '_features'))}")
        print(f"nothing new     {_figures(*child(home, '_features'))}")
    finally:
        with duckdb.connect(warehouse) as conn:
            conn.execute(f"DELETE FROM {DAILY} WHERE date > ?", [last])


def child(home: Path, mode: str, *, fresh: bool = False) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (GiB) of one child process (``wait4``: its own
    high-water mark, not the running maximum over all children). ``fresh`` removes the feature
    table first, so the run is a full build, not an increment."""
    if fresh:
        shutil.rmtree(home / "tables" / "demand_features" / "store_item_day", ignore_errors=True)
    started = time.perf_counter()
    log = home / f"{mode.strip('_')}.log"  # Dagster's event log, read it when a run fails
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, __file__, mode, "--home", str(home)], stderr=stderr
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{mode} failed ({process.returncode}): see {log}")
    scale = 2**30 if sys.platform == "darwin" else 2**20
    wall = time.perf_counter() - started
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / scale


def _figures(wall: float, cpu: float, rss: float) -> str:
    return f"wall {wall:6.1f} s  CPU {cpu:6.1f} s  peak RSS {rss:.2f} GiB"


def imports_only(_home: Path) -> None:
    import dagster  # noqa: F401, PLC0415

    import intel_platform.demand.features  # noqa: F401, PLC0415


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    modes = ["build", "run", "land", "_features", "_daily", "_imports"]
    parser.add_argument("mode", choices=modes)
    parser.add_argument("--home", type=Path, default=Path("/tmp/feat_scale"))
    parser.add_argument("--stores", type=int, default=10)
    parser.add_argument("--items", type=int, default=3049)
    parser.add_argument("--days", type=int, default=1941)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if args.mode == "build":
        build(args.home, args.stores, args.items, args.days)
        wall, cpu, rss = child(args.home, "_daily")
        print(f"daily demand    {_figures(wall, cpu, rss)}  (whole history, once)")
    elif args.mode in ("_features", "_daily"):
        materialize(args.home, args.mode.strip("_"))
    elif args.mode == "_imports":
        imports_only(args.home)
    elif args.mode == "land":
        land(args.home, args.repeat)
    else:
        for attempt in range(args.repeat):
            wall, cpu, rss = child(args.home, "_features", fresh=True)
            print(f"asset run {attempt + 1}     {_figures(wall, cpu, rss)}")
        wall, cpu, rss = child(args.home, "_imports")
        print(f"imports only    {_figures(wall, cpu, rss)}")


if __name__ == "__main__":
    main()
