"""Raw -> harmonized on a small generated landing zone, and the failure stories on-call fears."""

from datetime import timedelta

import polars as pl

from intel_platform.demand import landing
from intel_platform_tests.fixtures import (
    START,
    checks_by_name,
    pos_files,
    query,
    rewrite_csv,
    run_demand,
    small_demand,
)

SALES_ROWS = "SELECT count(*) AS n FROM demand_harmonized.sales"


def _count(home, sql: str) -> int:
    return int(query(home, sql).item())


def test_every_raw_row_lands_once_in_harmonized_or_quarantine(home, instance):
    last = small_demand(home)
    result = run_demand(instance, START, last)
    assert result.success
    checks = checks_by_name(result)
    assert {name for name, c in checks.items() if not c.passed} == set()
    raw = _count(home, "SELECT count(*) FROM demand_raw.pos_sales") + _count(
        home, "SELECT count(*) FROM demand_raw.ecom_orders"
    )
    kept = _count(home, SALES_ROWS)
    quarantined = _count(home, "SELECT count(*) FROM demand_harmonized.sales_quarantine")
    assert kept > 0 and quarantined > 0  # the generator injects a few bad rows
    assert kept + quarantined == raw
    duplicates = "SELECT count(*) - count(DISTINCT (source, line_id)) FROM demand_harmonized.sales"
    assert _count(home, duplicates) == 0


def test_rerunning_partitions_replaces_them_without_doubling(home, instance):
    last = small_demand(home)
    run_demand(instance, START, last)
    before = query(home, "SELECT date, count(*) AS n FROM demand_harmonized.sales GROUP BY 1")
    raw_before = _count(home, "SELECT count(*) FROM demand_raw.pos_sales")
    run_demand(instance, START + timedelta(days=3), START + timedelta(days=4))
    after = query(home, "SELECT date, count(*) AS n FROM demand_harmonized.sales GROUP BY 1")
    assert before.sort("date").equals(after.sort("date"))
    assert _count(home, "SELECT count(*) FROM demand_raw.pos_sales") == raw_before


def test_known_rename_of_unit_price_still_harmonizes_prices(home, instance):
    last = small_demand(home)
    day = START + timedelta(days=5)
    for path in pos_files(home, day):
        rewrite_csv(path, lambda f: f.rename({"unit_price": "price_per_unit"}))
    result = run_demand(instance, START, last)
    assert result.success
    priced = query(
        home,
        f"SELECT count(price_per_unit) AS priced, count(*) AS n FROM demand_harmonized.sales "
        f"WHERE date = '{day}' AND source = 'pos'",
    )
    assert priced["priced"][0] == priced["n"][0] > 0
    assert checks_by_name(result)["sales_price_null_rate"].passed
    raw_columns = query(home, "DESCRIBE demand_raw.pos_sales")["column_name"].to_list()
    assert {"unit_price", "price_per_unit"} <= set(raw_columns)  # raw keeps both, as-is


def test_unknown_rename_fails_ingestion_naming_file_and_columns(home, instance):
    last = small_demand(home)
    day = START + timedelta(days=2)
    broken = pos_files(home, day)[0]
    rewrite_csv(broken, lambda f: f.rename({"unit_price": "cost_amount"}))
    result = run_demand(instance, START, last, selection="demand/raw/pos_sales")
    assert not result.success
    failure = result.failure_data_for_node("demand__raw__pos_sales")
    message = failure.user_failure_data.description
    assert str(broken.relative_to(home.root / "landing" / "demand")) in message
    assert "cost_amount" in message and "price_per_unit" in message


def test_weekend_drop_fails_completeness_with_missing_store_items(home, instance):
    last = small_demand(home)
    weekend = [START + timedelta(days=5), START + timedelta(days=6)]  # Saturday, Sunday
    dropped_items = [f"I{n:05d}" for n in range(1, 6)]  # 5 of 30 items: ~15 % of store-items
    dropped = 0
    for day in weekend:
        for path in pos_files(home, day):
            dropped += pl.read_csv(path).filter(pl.col("item_id").is_in(dropped_items)).height
            rewrite_csv(path, lambda f: f.filter(~pl.col("item_id").is_in(dropped_items)))
    result = run_demand(instance, START, last)
    completeness = checks_by_name(result)["sales_completeness"]
    assert not completeness.passed
    metadata = {k: v.value for k, v in completeness.metadata.items()}
    assert metadata["failed_partitions"] == ", ".join(d.isoformat() for d in weekend)
    assert metadata["failed_rows"] == dropped > 0
    assert any(item in metadata["sample_rows"] for item in dropped_items)
    assert "pos_sales" in metadata["what_to_do"]
    assert 0.1 < metadata["worst_partition_missing_share"] < 0.25


def test_bad_rows_are_quarantined_with_reason_and_good_rows_flow(home, instance):
    last = small_demand(home)
    day = START + timedelta(days=1)
    path = pos_files(home, day)[0]
    original = pl.read_csv(path, infer_schema=False)
    negative, free = original["item_id"][0], original["item_id"][1]

    def corrupt(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(
            units=pl.when(pl.col("item_id") == negative).then(pl.lit("-4")).otherwise("units"),
            unit_price=pl.when(pl.col("item_id") == free).then(pl.lit("0")).otherwise("unit_price"),
        )

    rewrite_csv(path, corrupt)
    run_demand(instance, START, last)
    source = str(path.relative_to(home.root / "landing" / "demand"))
    quarantined = query(
        home,
        "SELECT reason, record FROM demand_harmonized.sales_quarantine "
        f"WHERE source_file = '{source}' ORDER BY reason",
    )
    reasons = dict(zip(quarantined["reason"], quarantined["record"], strict=True))
    assert '"units":"-4"' in reasons["negative_units"]
    assert '"unit_price":"0"' in reasons["non_positive_price"]
    kept = _count(
        home, f"SELECT count(*) FROM demand_harmonized.sales WHERE source_file = '{source}'"
    )
    assert kept + quarantined.height == original.height


def test_mass_bad_rows_fail_the_quarantine_rate_check(home, instance):
    last = small_demand(home)
    day = START + timedelta(days=3)
    for path in pos_files(home, day):
        rewrite_csv(path, lambda f: f.with_columns(units=pl.lit("n/a")))
    result = run_demand(instance, START, last)
    check = checks_by_name(result)["sales_quarantine_rate"]
    assert not check.passed
    metadata = {k: v.value for k, v in check.metadata.items()}
    assert metadata["failed_partitions"] == day.isoformat()
    assert "unparseable_units" in metadata["what_failed"]


def test_quarantined_product_replays_after_a_mapping_fix(home, instance):
    last = small_demand(home)
    catalog = landing.products_file(home)
    rewrite_csv(
        catalog,
        lambda f: f.with_columns(
            category=pl.when(pl.col("item_id") == "I00004").then(pl.lit("Elektronik"))
            .otherwise("category")
        ),
    )  # fmt: skip
    first_run = run_demand(instance, START, last)
    assert not checks_by_name(first_run)["products_quarantined"].passed
    item_sales = "SELECT count(*) FROM demand_harmonized.sales WHERE item_id = 'I00004'"
    stranded = _count(
        home,
        "SELECT count(*) FROM demand_harmonized.sales_quarantine WHERE reason = 'unknown_item' "
        "AND record LIKE '%I00004%'",
    )
    total_before = _count(home, SALES_ROWS) + _count(
        home, "SELECT count(*) FROM demand_harmonized.sales_quarantine"
    )
    assert _count(home, item_sales) == 0 and stranded > 0

    (home.mappings / "category_aliases.csv").write_text("alias,category\nelektronik,Electronics\n")
    second_run = run_demand(instance, START, last)
    assert checks_by_name(second_run)["products_quarantined"].passed
    assert _count(home, item_sales) == stranded
    total_after = _count(home, SALES_ROWS) + _count(
        home, "SELECT count(*) FROM demand_harmonized.sales_quarantine"
    )
    assert total_after == total_before  # moved, not lost or doubled


def test_a_day_without_any_pos_file_fails_naming_the_folder(home, instance):
    small_demand(home)
    day = START + timedelta(days=4)
    for path in pos_files(home, day):
        path.unlink()
    result = run_demand(instance, day, day, selection="demand/raw/pos_sales")
    message = result.failure_data_for_node("demand__raw__pos_sales").user_failure_data.description
    assert day.isoformat() in message and "pos_sales" in message
