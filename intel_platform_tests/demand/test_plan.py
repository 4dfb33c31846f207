"""Known-in-advance flags: planned promotions and closures reach the forecast horizon."""

from datetime import date, timedelta

import polars as pl

from intel_platform.core.landing import publish
from intel_platform.demand import landing
from intel_platform.demand.forecasts import future_covariates
from intel_platform.demand.harmonize import split_plan
from intel_platform.demand.importers import import_long
from intel_platform_tests.fixtures import START, query, run_demand, small_demand

STORES = pl.DataFrame({"store_id": ["S1"]})
PRODUCTS = pl.DataFrame({"item_id": ["I1"]})
DAY = date(2024, 4, 1)


def _raw(rows: dict) -> pl.DataFrame:
    n = len(next(iter(rows.values())))
    return pl.DataFrame(rows).with_columns(
        _source_file=pl.lit("catalog/plan.csv"), _row_number=pl.int_range(1, n + 1, dtype=pl.Int32)
    )


def test_split_plan_keeps_readable_rows_and_quarantines_the_rest():
    raw = _raw({
        "store": ["S1", "S1", "S9", "S1", "S1"],
        "sku": ["I1", "I1", "I1", "I1", "I1"],
        "date": ["2024-04-01", "2024-04-02", "2024-04-01", "2024-04-03", "2024-04-01"],
        "promotion": ["1", "", "0", "maybe", "0"],
        "open": ["true", "false", "true", "true", "true"],
    })  # fmt: skip
    good, bad = split_plan(raw, stores=STORES, products=PRODUCTS)
    assert good.select("date", "promo", "is_open").rows() == [
        (DAY, True, True),
        (DAY + timedelta(days=1), None, False),
    ]
    assert bad["reason"].to_list() == ["unknown_store", "unparseable_promo", "duplicate_plan_row"]


def test_the_plan_overrides_the_default_horizon_inputs():
    days = [DAY - timedelta(days=n) for n in range(7, 0, -1)]
    history = pl.DataFrame({
        "store_id": "S1", "item_id": "I1", "date": days, "units": [2] * 7,
        "price_per_unit": [1.0] * 7, "promo": [False] * 7, "is_open": [True] * 7,
    })  # fmt: skip
    plan = pl.DataFrame({
        "store_id": ["S1", "S1"], "item_id": ["I1", "I1"], "date": [DAY, DAY + timedelta(days=2)],
        "promo": [True, None], "is_open": [None, False],
    })  # fmt: skip
    future = future_covariates(history, horizon=3, active_days=28, plan=plan).sort("date")
    assert future.select("promo", "is_open").rows() == [(True, True), (False, True), (False, False)]


def test_import_long_turns_rows_from_plan_from_on_into_the_plan(home, tmp_path):
    table = tmp_path / "sales.csv"
    pl.DataFrame({
        "day": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"],
        "sold": ["4", "5", "", ""], "promo": ["0", "0", "1", "0"],
        "open": ["true", "true", "true", "false"],
    }).write_csv(table)  # fmt: skip
    summary = import_long(home, table, date_col="day", units_col="sold", promo_col="promo",
                          open_col="open", plan_from=date(2024, 1, 3))  # fmt: skip
    assert summary.last_date == date(2024, 1, 2)
    planned = pl.read_csv(landing.plan_file(home), try_parse_dates=True)
    assert planned.select("date", "promo", "is_open").rows() == [
        (date(2024, 1, 3), 1, True),
        (date(2024, 1, 4), 0, False),
    ]


def test_plan_is_ingested_and_harmonized_and_optional(home, instance):
    last = small_demand(home, days=3)
    assert run_demand(instance, START, last).success  # no plan file: an empty plan
    assert query(home, "SELECT count(*) FROM demand_harmonized.plan").item() == 0
    plan = pl.DataFrame({"store_id": ["S01"], "item_id": ["I00001"],
                         "date": [str(last + timedelta(days=1))], "promo": ["1"]})  # fmt: skip
    publish(landing.plan_file(home), plan.write_csv)
    assert run_demand(instance, START, last).success
    rows = query(home, "SELECT store_id, item_id, promo, is_open FROM demand_harmonized.plan")
    assert rows.rows() == [("S01", "I00001", True, None)]
