from datetime import date, timedelta
from statistics import mean, stdev

import dagster as dg
import duckdb
import numpy as np
import pandera.polars as pa
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource
from polars.testing import assert_frame_equal

from intel_platform.core.checks import contract_outcome
from intel_platform.core.resources import ProjectHomeResource
from intel_platform.core.runs import materialize_days
from intel_platform.core.warehouse import replace_partitions, replace_table
from intel_platform.demand.features import (
    CATEGORICAL_FEATURES,
    FEATURE_COLUMNS,
    GRAIN,
    MIN_HISTORY_DAYS,
    build_features,
    catalog_codes,
    features_schema,
    first_sales,
    holiday_calendar,
    store_item_day,
)
from intel_platform.demand.features import table as features_module
from intel_platform.demand.harmonize import daily_demand
from intel_platform.demand.harmonized import daily_demand_table
from intel_platform_tests.fixtures import DAILY_SCHEMA

D0 = date(2024, 1, 1)
PRODUCTS = pl.DataFrame(
    {
        "item_id": ["I2", "I0", "I1"],  # unsorted on purpose: codes follow sorted values
        "category": ["Hobbies", "Grocery", "Grocery"],
        "department": ["H1", "G1", "G2"],
    }
)


def day(n: int) -> date:
    return D0 + timedelta(days=n)


def make_panel(n_stores: int = 2, n_items: int = 3, n_days: int = 420, seed: int = 0):
    """Seeded daily demand, sorted by grain: late starts, zero-sales prefixes (cold start),
    ~4 % missing days, price steps, promos, a closed Christmas."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_stores):
        for i in range(n_items):
            start = int(rng.integers(30, 200)) if (s + i) % 3 == 2 else 0
            first_sale = start + int(rng.integers(0, 10))
            for d in range(start, n_days):
                if rng.random() < 0.04:
                    continue
                when = day(d)
                is_open = (when.month, when.day) != (12, 25)
                units = int(rng.poisson(1 + i)) if is_open and d >= first_sale else 0
                price = 1.0 + i + 0.25 * (d // 60 % 3)
                rows.append((f"S{s}", f"I{i}", when, units, price, rng.random() < 0.1, is_open))
    return pl.DataFrame(rows, schema=DAILY_SCHEMA, orient="row")


def close(got: float | None, expected: float | None) -> bool:
    """Float32 features vs Python floats; None only matches None (missing is not zero)."""
    if got is None or expected is None:
        return got is None and expected is None
    return got == pytest.approx(expected, rel=1e-5, abs=1e-6)


def features(daily: pl.DataFrame, stores: pl.DataFrame | None = None, **kwargs) -> pl.DataFrame:
    """Features of ``daily``; ``stores`` fixes the store codes (default: the stores present)."""
    if stores is not None:
        kwargs["codes"] = catalog_codes(PRODUCTS, stores)
    return build_features(daily.lazy(), PRODUCTS, **kwargs).collect()


def test_daily_demand_adds_ecom_to_pos_and_keeps_missing_pos_days_null():
    sales = pl.DataFrame(
        {
            "source": ["pos", "ecom", "ecom", "ecom", "pos"],
            "line_id": ["p1", "e1", "e2", "e3", "p2"],
            "store_id": ["S1", "S1", "S1", "S1", "S1"],
            "item_id": ["A", "A", "A", "A", "B"],
            "date": [day(0), day(0), day(1), day(1), day(0)],
            "units": [3, 1, 1, 3, 0],
            "price_per_unit": [2.0, 1.5, 1.0, 2.0, None],
            "promo": [False, True, False, False, False],
            "is_open": [True, None, None, None, False],
            "source_file": ["f"] * 5,
        },
        schema_overrides={"units": pl.Int32, "price_per_unit": pl.Float32},
    )
    out = daily_demand(sales.lazy()).collect()
    expected = pl.DataFrame(
        {
            "store_id": ["S1", "S1", "S1"],
            "item_id": ["A", "A", "B"],
            "date": [day(0), day(1), day(0)],
            "units": [4, None, 0],  # day 1 has web orders but no POS row: unknown, not 1 or 4
            "price_per_unit": [2.0, 1.75, None],  # POS price; else units-weighted web price
            "promo": [True, False, False],
            "is_open": [True, None, False],
        },
        schema_overrides={"units": pl.Int32, "price_per_unit": pl.Float32},
    )
    assert out.schema["store_id"] == pl.Categorical
    assert_frame_equal(out.with_columns(pl.col("store_id", "item_id").cast(pl.String)), expected)


def test_build_features_on_a_hand_checked_series_with_a_missing_day():
    units = [0, 2, 4, 0, None, 6, 2, 1, 3, 5]  # day 4 has no row at all
    prices = [1.0] * 4 + [None] + [2.0] * 5
    daily = pl.DataFrame(
        [
            ("S1", "I0", day(d), u, p, False, True)
            for d, (u, p) in enumerate(zip(units, prices, strict=True))
            if u is not None
        ],
        schema=DAILY_SCHEMA,
        orient="row",
    )
    out = features(daily)
    expected = pl.DataFrame(
        {
            "date": [day(d) for d in range(10)],
            "units": units,
            "units_lag_7": [None] * 7 + [0.0, 2.0, 4.0],
            "units_mean_7": [None, 0.0, 1.0, 2.0, 1.5, 1.5, 2.4, 14 / 6, 2.5, 16 / 6],
            "units_std_7": [
                None,
                None,
                stdev([0, 2]),
                stdev([0, 2, 4]),
                stdev([0, 2, 4, 0]),
                stdev([0, 2, 4, 0]),  # the missing day is skipped, not a zero
                stdev([0, 2, 4, 0, 6]),
                stdev([0, 2, 4, 0, 6, 2]),
                stdev([2, 4, 0, 6, 2, 1]),
                stdev([4, 0, 6, 2, 1, 3]),
            ],
            "price_change_28": [None, 0.0, 0.0, 0.0, None, 1.0, 2 / 1.2 - 1, 0.5, 0.4, 1 / 3],
            "days_since_first_sale": [None, None, 1, 2, 3, 4, 5, 6, 7, 8],
            "promo": [0, 0, 0, 0, None, 0, 0, 0, 0, 0],
        },
        schema_overrides={
            "units": pl.Int32,
            "units_lag_7": pl.Float32,
            "units_mean_7": pl.Float32,
            "units_std_7": pl.Float32,
            "price_change_28": pl.Float32,
            "days_since_first_sale": pl.Int16,
            "promo": pl.Int8,
        },
    )
    assert_frame_equal(out.select(expected.columns), expected)


def test_output_columns_are_grain_target_then_feature_columns():
    out = features(make_panel(n_days=60))
    assert out.columns == [*GRAIN, "units", *FEATURE_COLUMNS]
    assert set(CATEGORICAL_FEATURES) <= set(FEATURE_COLUMNS)
    assert len(set(FEATURE_COLUMNS)) == len(FEATURE_COLUMNS)


def test_grid_is_complete_per_series_and_missing_days_are_null_not_zero():
    daily = make_panel()
    out = features(daily)
    spans = daily.group_by("store_id", "item_id").agg(
        n=(pl.col("date").max() - pl.col("date").min()).dt.total_days() + 1
    )
    assert out.height == spans["n"].sum()
    filled = out.join(daily.select(GRAIN), on=GRAIN, how="anti")
    assert filled.height == out.height - daily.height > 0
    assert filled["units"].null_count() == filled.height


def test_features_match_a_slow_reference_loop_on_exact_day_offsets():
    """Vectorised features vs a per-row loop over dates (not rows): lags, windows that skip
    missing days, price change, days since first sale, young series."""
    daily = make_panel(n_days=400)
    out = features(daily)
    units = {(r[0], r[1], r[2]): r[3] for r in daily.iter_rows()}
    price = {(r[0], r[1], r[2]): r[4] for r in daily.iter_rows()}
    first_sale = {
        (s, i): d
        for s, i, d in daily.filter(pl.col("units") > 0)
        .group_by("store_id", "item_id")
        .agg(pl.col("date").min())
        .iter_rows()
    }

    def window(table, s, i, d, w):
        return [
            v for k in range(1, w + 1) if (v := table.get((s, i, d - timedelta(k)))) is not None
        ]

    for row in out.sample(n=600, seed=1).iter_rows(named=True):
        s, i, d = row["store_id"], row["item_id"], row["date"]
        for k in (7, 14, 28, 364):
            assert row[f"units_lag_{k}"] == units.get((s, i, d - timedelta(k)))
        for w in (7, 28):
            past = window(units, s, i, d, w)
            assert close(row[f"units_mean_{w}"], mean(past) if past else None)
            assert close(row[f"units_std_{w}"], stdev(past) if len(past) >= 2 else None)
        past_prices = window(price, s, i, d, 28)
        today = price.get((s, i, d))
        expected_change = today / mean(past_prices) - 1 if past_prices and today else None
        assert close(row["price_change_28"], expected_change)
        first = first_sale.get((s, i))
        expected_days = (d - first).days if first is not None and first < d else None
        assert row["days_since_first_sale"] == expected_days


def test_young_series_has_null_lag_364_never_zero():
    out = features(make_panel(n_days=400))
    young = out.filter(
        pl.col("date") < pl.col("date").min().over("store_id", "item_id") + pl.duration(days=364)
    )
    assert young.height > 0
    assert young["units_lag_364"].null_count() == young.height
    old = out.filter(
        pl.col("date") >= pl.col("date").min().over("store_id", "item_id") + pl.duration(days=364)
    )
    assert old["units_lag_364"].null_count() < old.height


@pytest.mark.parametrize("cutoff", [day(40), day(250)])  # before/after some first sales
def test_no_feature_of_day_d_changes_when_units_from_day_d_on_change(cutoff):
    daily = make_panel(n_days=400)
    noise = pl.Series(np.random.default_rng(7).integers(0, 50, daily.height), dtype=pl.Int32)
    perturbed = daily.with_columns(
        units=pl.when(pl.col("date") < cutoff)
        .then(pl.col("units"))
        .when(noise % 5 == 0)
        .then(None)  # a later day going missing must not matter either
        .otherwise(pl.col("units") * 3 + noise)
    )
    assert not perturbed["units"].equals(daily["units"])
    before = features(daily).filter(pl.col("date") <= cutoff)
    after = features(perturbed).filter(pl.col("date") <= cutoff)
    assert_frame_equal(
        before.select(FEATURE_COLUMNS), after.select(FEATURE_COLUMNS), check_exact=True
    )


@pytest.mark.parametrize(("start", "sold_before"), [(day(400), 3), (day(560), 5)])
def test_a_window_of_history_with_earlier_first_sales_equals_the_whole_history(start, sold_before):
    """What an incremental build relies on: features from ``start`` need only the
    ``MIN_HISTORY_DAYS`` before it, plus each series' first sale from the older history."""
    daily = make_panel(n_days=600)
    read_from = start - timedelta(days=MIN_HISTORY_DAYS)
    stores = daily.select("store_id").unique()
    window = daily.filter(pl.col("date") >= read_from)
    earlier = first_sales(daily.filter(pl.col("date") < read_from))
    assert earlier.height == sold_before  # the others first sell inside the window
    got = features(window, stores=stores, first_sales=earlier).filter(pl.col("date") >= start)
    whole = features(daily, stores=stores).filter(pl.col("date") >= start)
    assert_frame_equal(got, whole, check_exact=True)
    without = features(window, stores=stores).filter(pl.col("date") >= start)
    assert not without["days_since_first_sale"].equals(whole["days_since_first_sale"])


def test_encodings_follow_sorted_catalog_values_and_are_stable_across_calls():
    daily = make_panel(n_days=250)
    full = features(daily)
    subset = features(daily.filter(pl.col("store_id") == "S1"), stores=daily.select("store_id"))
    codes = ["store_id", "item_id", *CATEGORICAL_FEATURES]
    pairs = full.select(codes).unique().sort(codes)
    assert pairs.rows() == [
        ("S0", "I0", 0, 0, 0, 0),
        ("S0", "I1", 0, 1, 0, 1),
        ("S0", "I2", 0, 2, 1, 2),
        ("S1", "I0", 1, 0, 0, 0),
        ("S1", "I1", 1, 1, 0, 1),
        ("S1", "I2", 1, 2, 1, 2),
    ]
    assert_frame_equal(subset.select(codes).unique().sort(codes), pairs.filter(store_id="S1"))


def test_an_item_missing_from_the_catalog_gets_null_codes():
    daily = make_panel(n_days=10).with_columns(item_id=pl.col("item_id").str.replace("I2", "NEW"))
    out = features(daily).filter(item_id="NEW")
    assert out.height > 0
    for column in ("item_code", "category_code", "department_code"):
        assert out[column].null_count() == out.height


def test_categorical_ids_and_streaming_engine_give_the_same_features():
    daily = make_panel(n_days=120)
    reference = features(daily)
    categorical = daily.with_columns(pl.col("store_id", "item_id").cast(pl.Categorical))
    streamed = build_features(categorical.lazy(), PRODUCTS).collect(engine="streaming")
    assert_frame_equal(
        streamed.with_columns(pl.col("store_id", "item_id").cast(pl.String)), reference
    )


def test_holiday_calendar_flags_holidays_and_counts_days_to_the_next():
    cal = holiday_calendar(date(2024, 7, 1), date(2024, 7, 5), "US")
    expected = pl.DataFrame(
        {
            "date": [date(2024, 7, d) for d in range(1, 6)],
            "day_of_week": [1, 2, 3, 4, 5],
            "week_of_year": [27] * 5,
            "month": [7] * 5,
            "day_of_month": [1, 2, 3, 4, 5],
            "is_holiday": [0, 0, 0, 1, 0],
            "days_to_next_holiday": [3, 2, 1, 0, 59],  # then Labor Day, 2024-09-02
        },
        schema_overrides={c: pl.Int8 for c in ("day_of_week", "week_of_year", "month")}
        | {"day_of_month": pl.Int8, "is_holiday": pl.Int8, "days_to_next_holiday": pl.Int16},
    )
    assert_frame_equal(cal, expected)


def test_empty_daily_gives_an_empty_frame_with_the_feature_schema():
    empty = pl.DataFrame(schema=DAILY_SCHEMA)
    out = build_features(empty.lazy(), PRODUCTS).collect(engine="streaming")
    assert out.height == 0
    assert out.columns == [*GRAIN, "units", *FEATURE_COLUMNS]


def test_daily_demand_output_feeds_build_features_directly():
    sales = make_panel(n_days=30).select(
        pl.lit("pos").alias("source"),
        pl.format("{}-{}-{}", "store_id", "item_id", "date").alias("line_id"),
        pl.exclude("promo", "is_open"),
        "promo",
        "is_open",
        pl.lit("pos.csv").alias("source_file"),
    )
    daily = daily_demand(sales.sample(fraction=1.0, shuffle=True, seed=3).lazy())
    out = build_features(daily, PRODUCTS).collect()
    assert out.height == features(make_panel(n_days=30)).height
    assert out.schema["store_id"] == pl.Categorical


# --- Dagster layer: daily demand per partition, feature parts per block of series ------------


def _sales_lines(daily: pl.DataFrame) -> pl.DataFrame:
    """POS lines for a daily panel, laid out as harmonized sales (one line per store-item-day)."""
    return daily.select(
        pl.lit("pos").alias("source"),
        pl.format("P-{}-{}-{}", "date", "store_id", "item_id").alias("line_id"),
        *GRAIN,
        "units",
        "price_per_unit",
        "promo",
        "is_open",
        pl.lit("pos.csv").alias("source_file"),
    )


def _warehouse(path, daily: pl.DataFrame) -> dg.Definitions:
    """A DuckDB file with harmonized sales, products and stores for ``daily``, and the
    resources the two assets need."""
    with duckdb.connect(str(path / "warehouse.duckdb")) as conn:
        first, last = daily["date"].min(), daily["date"].max()
        replace_partitions(conn, "demand_harmonized.sales", _sales_lines(daily),
                           partition_column="date", first=first, last=last)  # fmt: skip
        replace_table(conn, "demand_harmonized.products", PRODUCTS)
        replace_table(conn, "demand_harmonized.stores", daily.select("store_id").unique())
    return dg.Definitions(
        assets=[daily_demand_table, store_item_day],
        resources={
            "warehouse": DuckDBResource(database=str(path / "warehouse.duckdb")),
            "project_home": ProjectHomeResource(path=str(path)),
        },
    )


def _materialize_daily(defs: dg.Definitions, first: date, last: date) -> None:
    result = materialize_days(defs, dg.DagsterInstance.ephemeral(), first, last,
                              selection='key:"demand/harmonized/daily_demand"')  # fmt: skip
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())


def _daily_table(path) -> pl.DataFrame:
    with duckdb.connect(str(path / "warehouse.duckdb"), read_only=True) as conn:
        return conn.execute("SELECT * FROM demand_harmonized.daily_demand ORDER BY ALL").pl()


def test_daily_demand_table_replaces_a_re_harmonized_day_and_keeps_the_others(tmp_path):
    daily = make_panel(n_days=20)
    defs = _warehouse(tmp_path, daily)
    _materialize_daily(defs, day(0), day(19))
    before = _daily_table(tmp_path)
    expected = daily.sort(GRAIN).with_columns(pl.col("is_open").cast(pl.Boolean))
    assert_frame_equal(before, expected, check_dtypes=False)

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:  # day 5 re-harmonized
        fixed = _sales_lines(daily.filter(date=day(5)).with_columns(units=pl.lit(9, pl.Int32)))
        replace_partitions(conn, "demand_harmonized.sales", fixed, partition_column="date",
                           first=day(5), last=day(5))  # fmt: skip
    _materialize_daily(defs, day(5), day(5))
    _materialize_daily(defs, day(5), day(5))  # idempotent: a re-run replaces, never doubles
    after = _daily_table(tmp_path)
    assert after.height == before.height
    assert after.filter(date=day(5))["units"].unique().to_list() == [9]
    assert_frame_equal(after.filter(pl.col("date") != day(5)),
                       before.filter(pl.col("date") != day(5)))  # fmt: skip


def test_feature_parts_built_in_blocks_of_series_equal_one_pass_over_the_panel(
    tmp_path, monkeypatch
):
    daily = make_panel(n_stores=2, n_items=3, n_days=400)
    defs = _warehouse(tmp_path, daily)
    _materialize_daily(defs, daily["date"].min(), daily["date"].max())
    monkeypatch.setattr(features_module, "_ROWS_PER_PART", 500)  # ~1 series a block
    result = materialize_days(defs, dg.DagsterInstance.ephemeral(), day(0), day(0),
                              selection='key:"demand/features/store_item_day"')  # fmt: skip
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    directory = tmp_path / "tables" / "demand_features" / "store_item_day"
    parts = sorted(p.name for p in directory.glob("*.parquet"))
    assert parts == [f"20240101-S{s}-{k:03d}.parquet" for s in (0, 1) for k in range(3)]
    table = pl.concat([pl.read_parquet(directory / p) for p in parts])
    assert_frame_equal(
        table.with_columns(pl.col("store_id", "item_id").cast(pl.String)),
        features(daily, stores=daily.select("store_id")),
    )
    (materialization,) = result.asset_materializations_for_node("demand__features__store_item_day")
    assert materialization.metadata["dagster/row_count"].value == table.height
    newest = daily.filter(pl.col("units").is_not_null())["date"].max()
    assert materialization.metadata["data_as_of"].value == str(newest)


FEATURES_SELECTION = 'key:"demand/features/store_item_day"'


def _build_features(defs: dg.Definitions, *, passed: bool = True) -> dict:
    """One features run; its materialization metadata (values unwrapped). A failed contract
    fails the run (the check blocks), after the table was written."""
    result = materialize_days(defs, dg.DagsterInstance.ephemeral(), day(0), day(0),
                              selection=FEATURES_SELECTION)  # fmt: skip
    assert result.success is passed
    assert all(c.passed for c in result.get_asset_check_evaluations()) is passed
    (materialization,) = result.asset_materializations_for_node("demand__features__store_item_day")
    return {
        "version": materialization.tags["dagster/data_version"],
        **{k: getattr(v, "value", v) for k, v in materialization.metadata.items()},
    }


def _features_table(path) -> pl.DataFrame:
    directory = path / "tables" / "demand_features" / "store_item_day"
    table = pl.read_parquet(directory / "*.parquet")
    return table.with_columns(pl.col("store_id", "item_id").cast(pl.String)).sort(GRAIN)


def _full_build(daily: pl.DataFrame, last: date) -> pl.DataFrame:
    return features(daily.filter(pl.col("date") <= last), stores=daily.select("store_id"))


def _correct(path, daily: pl.DataFrame, when: date) -> None:
    """Re-harmonized sales of one day with other units (a late correction)."""
    fixed = _sales_lines(daily.filter(date=when).with_columns(units=pl.col("units") + 5))
    with duckdb.connect(str(path / "warehouse.duckdb")) as conn:
        replace_partitions(conn, "demand_harmonized.sales", fixed, partition_column="date",
                           first=when, last=when)  # fmt: skip


def test_landing_days_recompute_only_the_newest_days_and_equal_a_full_build(tmp_path):
    # a series quiet over the segment boundary comes back: its missing days must appear too
    daily = make_panel(n_days=450).filter(
        ~((pl.col("store_id") == "S0") & (pl.col("item_id") == "I1")
          & pl.col("date").is_between(day(425), day(431)))
    )  # fmt: skip
    defs = _warehouse(tmp_path, daily)
    _materialize_daily(defs, day(0), day(429))
    first = _build_features(defs)
    assert first["increment"].startswith("first build")
    assert first["dagster/row_count"] == _full_build(daily, day(429)).height
    _materialize_daily(defs, day(430), day(434))  # day 0..429 is closed: a new segment starts
    second = _build_features(defs)
    _materialize_daily(defs, day(435), day(439))  # the new segment is open: it grows
    third = _build_features(defs)
    assert second["recomputed_from"] == third["recomputed_from"] == str(day(430))
    assert third["segments"] == 2
    # the first segment is kept as built: the run wrote the rest (10 days, plus missing days
    # before day 430 of series that were quiet then, S0/I1's five among them)
    assert third["rows_written"] == third["dagster/row_count"] - first["dagster/row_count"]
    assert 6 * 10 + 5 <= third["rows_written"] < 6 * 10 + 5 + 6
    assert_frame_equal(_features_table(tmp_path), _full_build(daily, day(439)), check_exact=True)
    assert third["dagster/row_count"] == _features_table(tmp_path).height


def test_nothing_changed_recomputes_nothing_and_keeps_the_data_version(tmp_path):
    daily = make_panel(n_days=40)
    defs = _warehouse(tmp_path, daily)
    _materialize_daily(defs, day(0), day(39))
    first = _build_features(defs)
    again = _build_features(defs)
    assert again["recomputed_from"] == "nothing"
    assert again["rows_written"] == 0
    assert again["version"] == first["version"]
    assert again["dagster/row_count"] == first["dagster/row_count"]
    assert again["dagster/column_schema"] == first["dagster/column_schema"]


@pytest.mark.parametrize(
    ("corrected", "recomputed_from"),
    [(day(432), str(day(430))), (day(100), "the first day")],  # open segment / closed history
)
def test_a_corrected_day_recomputes_from_its_segment_and_equals_a_full_build(
    tmp_path, corrected, recomputed_from
):
    daily = make_panel(n_days=435)
    defs = _warehouse(tmp_path, daily)
    _materialize_daily(defs, day(0), day(429))
    _build_features(defs)
    _materialize_daily(defs, day(430), day(434))
    _build_features(defs)
    _correct(tmp_path, daily, corrected)
    _materialize_daily(defs, corrected, corrected)
    meta = _build_features(defs)
    assert meta["recomputed_from"] == recomputed_from
    assert str(corrected) in meta["increment"]
    fixed = daily.with_columns(
        units=pl.when(pl.col("date") == corrected).then(pl.col("units") + 5).otherwise("units")
    )
    assert_frame_equal(_features_table(tmp_path), _full_build(fixed, day(434)), check_exact=True)


def _replace_products(path, products: pl.DataFrame) -> None:
    with duckdb.connect(str(path / "warehouse.duckdb")) as conn:
        replace_table(conn, "demand_harmonized.products", products)


def test_catalog_changes_keep_every_code_and_recompute_only_what_they_touch(tmp_path):
    daily = make_panel(n_days=60)
    stores = daily.select("store_id").unique()
    defs = _warehouse(tmp_path, daily)
    _materialize_daily(defs, day(0), day(59))
    _build_features(defs)
    # a launch that sorts before every item, no sales yet: no row changes, no code moves
    launch = pl.DataFrame({"item_id": ["A0"], "category": ["Apparel"], "department": ["A1"]})
    catalog = pl.concat([PRODUCTS, launch])
    _replace_products(tmp_path, catalog)
    assert _build_features(defs)["recomputed_from"] == "nothing"
    # I1 moves to Hobbies: its rows change from its first day (here: the whole table)
    moved = catalog.with_columns(
        category=pl.when(pl.col("item_id") == "I1").then(pl.lit("Hobbies")).otherwise("category")
    )
    _replace_products(tmp_path, moved)
    meta = _build_features(defs)
    assert f"rows recoded from {daily['date'].min()}" in meta["increment"]
    codes = catalog_codes(moved, stores, catalog_codes(PRODUCTS, stores))
    expected = build_features(daily.lazy(), moved, codes=codes).collect()
    assert_frame_equal(_features_table(tmp_path), expected, check_exact=True)
    items = _features_table(tmp_path).select("item_id", "item_code", "category_code").unique()
    assert sorted(items.rows()) == [("I0", 0, 0), ("I1", 1, 1), ("I2", 2, 1)]  # A0 got code 3


def test_codes_of_known_values_never_change_and_new_values_get_the_next_codes():
    stores = pl.DataFrame({"store_id": ["S1", "S0"]})
    first = catalog_codes(PRODUCTS, stores)
    assert first.filter(field="item_id").rows() == [("item_id", "I0", 0), ("item_id", "I1", 1),
                                                   ("item_id", "I2", 2)]  # fmt: skip
    grown = pl.concat([PRODUCTS.filter(pl.col("item_id") != "I1"),
                       pl.DataFrame({"item_id": ["B", "A"], "category": ["Toys", "Apparel"],
                                     "department": ["T1", "A1"]})])  # fmt: skip
    later = catalog_codes(grown, pl.DataFrame({"store_id": ["S2"]}), first)
    assert (
        later.join(first, on=["field", "value"])
        .filter(pl.col("code") != pl.col("code_right"))
        .is_empty()
    )  # I1 left the catalog and keeps its code: codes are never reused
    new = later.join(first, on=["field", "value"], how="anti").sort("field", "code")
    assert new.rows() == [
        ("category", "Apparel", 2), ("category", "Toys", 3),
        ("department", "A1", 3), ("department", "T1", 4),
        ("item_id", "A", 3), ("item_id", "B", 4),
        ("store_id", "S2", 2),
    ]  # fmt: skip


def test_a_segment_that_failed_its_contract_is_rebuilt_even_when_nothing_changed(
    tmp_path, monkeypatch
):
    daily = make_panel(n_days=60)
    defs = _warehouse(tmp_path, daily)
    _materialize_daily(defs, day(0), day(59))
    _build_features(defs)
    strict = features_schema().update_column("units", checks=[pa.Check.le(0)])
    monkeypatch.setattr(features_module, "features_schema", lambda: strict)
    assert _build_features(defs)["recomputed_from"] == "nothing"  # nothing new to check
    _correct(tmp_path, daily, day(58))
    _materialize_daily(defs, day(58), day(58))
    failed = _build_features(defs, passed=False)  # the rebuilt segment fails its contract
    assert failed["rows_written"] > 0
    monkeypatch.undo()
    retried = _build_features(defs)  # same inputs, but a failed segment is never kept
    assert "failed its check" in retried["increment"]
    assert retried["rows_written"] == failed["rows_written"]


def test_features_contract_fails_a_duplicated_or_out_of_order_day():
    out = features(make_panel(n_days=30))
    schema = features_schema()
    assert contract_outcome(schema, out).passed
    duplicated = pl.concat([out.head(5), out.slice(4, 1), out.slice(5)])
    failed = contract_outcome(schema, duplicated)
    assert not failed.passed
    assert failed.sample["date"].to_list() == [out["date"][4]]
    swapped = pl.concat([out.slice(1, 1), out.head(1), out.slice(2)])
    assert not contract_outcome(schema, swapped).passed
