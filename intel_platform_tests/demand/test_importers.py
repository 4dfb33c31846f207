from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from intel_platform.core.contracts import Contract
from intel_platform.core.home import ProjectHome
from intel_platform.core.ingest import ingest_files
from intel_platform.core.quarantine import indexed
from intel_platform.demand import contracts
from intel_platform.demand.harmonize import (
    expected_pos_keys,
    split_products,
    split_sales,
    split_stores,
    update_first_seen,
)
from intel_platform.demand.importers import events_file, import_long, import_m5
from intel_platform.demand.landing import (
    POS_COLUMNS,
    landing_root,
    pos_file,
    products_file,
    stores_file,
)

START = date(2011, 1, 29)  # M5's d_1, a Saturday: Walmart weeks run Saturday to Friday
DAYS = 21
STORES = ("CA_1", "TX_1")
ITEMS = ("FOODS_1_001", "HOBBIES_1_001", "HOUSEHOLD_1_001")  # HOUSEHOLD launches in week 2


def _units(store: str, item: str, k: int) -> int:
    """Deterministic sales; zero before HOUSEHOLD's launch and on every 4th day after it."""
    if item == "HOUSEHOLD_1_001" and k <= 7:
        return 0
    return 0 if k % 4 == 0 else k + STORES.index(store) * 10 + ITEMS.index(item)


def _price(store: str, item: str, week: int) -> float:
    return 1.0 + ITEMS.index(item) + week / 10 + STORES.index(store) / 100


def _write_m5(folder: Path) -> Path:
    """A tiny M5-layout folder: 2 stores x 3 items x 21 days, calendar one week longer."""
    folder.mkdir()
    rows = [
        {
            "id": f"{item}_{store}_validation",
            "item_id": item,
            "dept_id": item.rsplit("_", 1)[0],
            "cat_id": item.split("_")[0],
            "store_id": store,
            "state_id": store[:2],
            **{f"d_{k}": _units(store, item, k) for k in range(1, DAYS + 1)},
        }
        for store in STORES
        for item in ITEMS
    ]
    pl.DataFrame(rows).write_csv(folder / "sales_train_validation.csv")
    n_cal = DAYS + 7
    events = {3: ("SuperBowl", "Sporting", "Valentine", "Cultural"), 25: ("Easter", "Cultural")}
    calendar = pl.DataFrame(
        {
            "date": [(START + timedelta(k - 1)).isoformat() for k in range(1, n_cal + 1)],
            "wm_yr_wk": [11101 + (k - 1) // 7 for k in range(1, n_cal + 1)],
            "d": [f"d_{k}" for k in range(1, n_cal + 1)],
            **{
                col: [(events.get(k, ()) + (None,) * 4)[j] for k in range(1, n_cal + 1)]
                for j, col in enumerate(
                    ["event_name_1", "event_type_1", "event_name_2", "event_type_2"]
                )
            },
            "snap_CA": [0] * n_cal,
        }
    )
    calendar.write_csv(folder / "calendar.csv")
    prices = [
        {"store_id": s, "item_id": i, "wm_yr_wk": 11100 + w, "sell_price": _price(s, i, w)}
        for s in STORES
        for i in ITEMS
        for w in range(1, 5)
        if not (i == "HOUSEHOLD_1_001" and w == 1)
    ]
    pl.DataFrame(prices).write_csv(folder / "sell_prices.csv")
    return folder


def _harmonized(home: ProjectHome, first: date, last: date) -> dict[str, pl.DataFrame]:
    """The landing zone through the platform's own raw reader and harmonize rules."""
    root = landing_root(home)

    def raw(files: list[Path], contract: Contract) -> pl.DataFrame:
        now = datetime(2026, 1, 1)
        frame = ingest_files(files, contract, landing_root=root, partition=None, ingested_at=now)
        return indexed(frame)

    aliases = contracts.category_aliases(home.mappings)
    products, bad_products = split_products(
        raw([products_file(home)], contracts.PRODUCTS), categories=aliases
    )
    stores, bad_stores = split_stores(raw([stores_file(home)], contracts.STORES))
    pos = raw(sorted((root / "pos_sales").rglob("*.csv")), contracts.SALES)
    sales, bad_sales = split_sales(
        pos, source="pos", stores=stores, products=products, first=first, last=last
    )
    rejected = [r for r in (bad_products, bad_stores, bad_sales) if r.height]
    return {"products": products, "stores": stores, "sales": sales, "rejected": rejected}


def _pos(home: ProjectHome, day: date, store: str) -> pl.DataFrame:
    return pl.read_csv(pos_file(home, day, store), try_parse_dates=True)


@pytest.fixture
def m5_dir(tmp_path: Path) -> Path:
    return _write_m5(tmp_path / "m5")


@pytest.fixture
def home(tmp_path: Path) -> ProjectHome:
    return ProjectHome(tmp_path / "home")


def test_m5_maps_days_to_dates_with_the_weekly_price(home, m5_dir):
    summary = import_m5(home, m5_dir)
    day9 = _pos(home, START + timedelta(8), "TX_1")  # d_9: week 11102
    assert day9.columns == list(POS_COLUMNS)
    assert day9["item_id"].to_list() == list(ITEMS)
    assert day9["units"].to_list() == [19, 20, 21]
    assert day9["unit_price"].to_list() == [1.21, 2.21, 3.21]
    assert day9["sale_date"].to_list() == [date(2011, 2, 6)] * 3
    assert day9["on_promo"].to_list() == [0, 0, 0]
    assert day9["pos_line_id"][0] == "M5-TX_1-FOODS_1_001-2011-02-06"
    assert summary.pos_rows == 2 * (2 * 21 + 14)
    assert (summary.stores, summary.items, summary.days) == (2, 3, 21)
    assert (summary.first_date, summary.last_date) == (START, date(2011, 2, 18))
    assert summary.files_written == 2 * 21 + 3


def test_m5_emits_no_rows_before_launch_and_keeps_zeros_after(home, m5_dir):
    import_m5(home, m5_dir)
    day7 = _pos(home, START + timedelta(6), "CA_1")  # last day of week 1
    assert day7["item_id"].to_list() == ["FOODS_1_001", "HOBBIES_1_001"]
    day8 = _pos(home, START + timedelta(7), "CA_1")  # d_8, zero-sales day after launch
    assert day8["item_id"].to_list() == list(ITEMS)
    assert day8["units"].to_list() == [0, 0, 0]
    assert day8["unit_price"][2] == 3.2


def test_m5_keeps_a_sale_made_before_the_first_price(home, m5_dir):
    sales_path = m5_dir / "sales_train_validation.csv"
    sales = pl.read_csv(sales_path)
    early = (pl.col("store_id") == "CA_1") & (pl.col("item_id") == "HOUSEHOLD_1_001")
    sales.with_columns(d_5=pl.when(early).then(4).otherwise("d_5")).write_csv(sales_path)
    import_m5(home, m5_dir)
    assert "HOUSEHOLD_1_001" not in _pos(home, START + timedelta(3), "CA_1")["item_id"]
    day5, day6 = (_pos(home, START + timedelta(k), "CA_1").row(2) for k in (4, 5))
    assert (day5[2], day5[4], day5[5]) == ("HOUSEHOLD_1_001", 4, None)
    assert (day6[2], day6[4]) == ("HOUSEHOLD_1_001", 0)
    assert pl.read_csv(products_file(home))["launch_date"][2] == "2011-02-02"


def test_m5_catalogs_map_categories_launch_and_median_price(home, m5_dir):
    import_m5(home, m5_dir)
    products = pl.read_csv(products_file(home), try_parse_dates=True)
    assert products.to_dicts()[2] == {
        "item_id": "HOUSEHOLD_1_001",
        "item_name": "HOUSEHOLD_1_001",
        "category": "household",  # a category_aliases.csv spelling, mapped when harmonized
        "department": "HOUSEHOLD_1",
        "launch_date": date(2011, 2, 5),
        "base_price": pytest.approx(3.255),  # median of 3.2, 3.21, 3.3, 3.31
    }
    assert products["launch_date"][0] == START
    stores = pl.read_csv(stores_file(home), try_parse_dates=True)
    assert stores.rows() == [("CA_1", "CA_1", "CA", START), ("TX_1", "TX_1", "TX", START)]


def test_m5_landing_passes_the_platform_harmonize_rules(home, m5_dir):
    summary = import_m5(home, m5_dir)
    out = _harmonized(home, summary.first_date, summary.last_date)
    assert out["rejected"] == []
    assert out["products"]["category"].to_list() == ["Grocery", "Hobbies", "Household"]
    assert out["sales"].height == summary.pos_rows
    assert out["sales"]["price_per_unit"].null_count() == 0
    seen = update_first_seen(
        pl.DataFrame(schema={"store_id": pl.String, "item_id": pl.String, "first_seen": pl.Date}),
        out["sales"],
    )
    expected = expected_pos_keys(out["stores"], out["products"], seen, START, summary.last_date)
    assert expected.join(out["sales"], on=["store_id", "item_id", "date"], how="anti").is_empty()


def test_m5_events_are_long_and_cover_the_whole_calendar(home, m5_dir):
    import_m5(home, m5_dir, days=7)
    events = pl.read_csv(events_file(home), try_parse_dates=True)
    assert events.rows() == [
        (date(2011, 1, 31), "SuperBowl", "Sporting"),
        (date(2011, 1, 31), "Valentine", "Cultural"),
        (date(2011, 2, 22), "Easter", "Cultural"),
    ]


def test_m5_subset_of_stores_items_and_days(home, m5_dir):
    summary = import_m5(home, m5_dir, stores=["TX_1"], items=["HOBBIES_1_001"], days=10)
    landed = sorted(p.relative_to(home.landing).as_posix() for p in home.landing.rglob("*.csv"))
    pos = [p for p in landed if "/pos_sales/" in p]
    assert len(pos) == 10 and all(p.endswith("/TX_1.csv") for p in pos)
    assert pos[-1] == "demand/pos_sales/2011-02-07/TX_1.csv"
    assert (summary.stores, summary.items, summary.days, summary.pos_rows) == (1, 1, 10, 10)
    assert pl.read_csv(products_file(home))["item_id"].to_list() == ["HOBBIES_1_001"]


def test_m5_subset_that_launches_later_starts_at_launch(home, m5_dir):
    summary = import_m5(home, m5_dir, items=["HOUSEHOLD_1_001"], days=10)
    assert (summary.first_date, summary.days, summary.pos_rows) == (date(2011, 2, 5), 3, 6)
    assert not pos_file(home, START, "CA_1").exists()


def test_m5_rejects_unknown_selection_and_bad_days(home, m5_dir):
    with pytest.raises(ValueError, match=r"unknown store_id value\(s\) \['WI_9'\]"):
        import_m5(home, m5_dir, stores=["WI_9"])
    with pytest.raises(ValueError, match="days must be between 1 and 21"):
        import_m5(home, m5_dir, days=30)
    with pytest.raises(ValueError, match="missing sell_prices.csv"):
        (m5_dir / "sell_prices.csv").unlink()
        import_m5(home, m5_dir)


def test_import_refuses_a_landing_zone_holding_another_data_set(home, m5_dir):
    import_m5(home, m5_dir, days=5)
    import_m5(home, m5_dir, days=5)  # the same import again overwrites its own files
    with pytest.raises(ValueError, match="already holds 7 file"):
        import_m5(home, m5_dir, stores=["TX_1"], days=3)


def _write(frame: pl.DataFrame, path: Path) -> Path:
    frame.write_parquet(path) if path.suffix == ".parquet" else frame.write_csv(path)
    return path


def test_long_store_level_table_lands_as_one_store_and_item_all(home, tmp_path):
    table = pl.DataFrame({"day": ["2024-03-02", "2024-03-01", "2024-03-03"], "qty": [5, 3, 0]})
    summary = import_long(home, _write(table, tmp_path / "t.csv"), date_col="day", units_col="qty")
    pos = _pos(home, date(2024, 3, 1), "S01")
    assert pos.rows() == [("L-S01-ALL-2024-03-01", "S01", "ALL", date(2024, 3, 1), 3, None, 0)]
    assert _pos(home, date(2024, 3, 3), "S01")["units"].to_list() == [0]
    products = pl.read_csv(products_file(home), try_parse_dates=True)
    # no price column: base price 1.0 (the product contract needs one), unit_price stays empty
    assert products.rows() == [("ALL", "ALL", "Grocery", None, date(2024, 3, 1), 1.0)]
    stores = pl.read_csv(stores_file(home), try_parse_dates=True)
    assert stores.rows() == [("S01", "S01", None, date(2024, 3, 1))]
    assert (summary.stores, summary.items, summary.days, summary.pos_rows) == (1, 1, 3, 3)
    assert summary.files_written == 5
    out = _harmonized(home, summary.first_date, summary.last_date)
    assert out["rejected"] == []
    assert out["sales"].sort("date")["units"].to_list() == [3, 5, 0]


def test_long_table_with_price_promo_and_open_columns(home, tmp_path):
    table = pl.DataFrame(
        {
            "Date": ["2015-07-30T00:00:00", "2015-07-31 00:00:00", "2015-07-30", "2015-07-31"],
            "Store": [1, 1, 2, 2],
            "Sku": ["a", "a", "a", "a"],
            "Sales": [5.0, None, 2.0, 4.0],
            "Price": [1.5, 1.5, None, 2.0],
            "Promo": ["yes", "no", None, "1"],
            "Open": [1, 0, 1, 1],
        }
    )
    file = _write(table, tmp_path / "sales.parquet")
    summary = import_long(
        home,
        file,
        date_col="Date",
        units_col="Sales",
        store_col="Store",
        item_col="Sku",
        price_col="Price",
        promo_col="Promo",
        open_col="Open",
        category="food",
    )
    closed = _pos(home, date(2015, 7, 31), "1")
    assert closed.columns == [*POS_COLUMNS, "is_open"]
    assert closed.row(0) == ("L-1-a-2015-07-31", 1, "a", date(2015, 7, 31), 0, 1.5, 0, False)
    first = _pos(home, date(2015, 7, 30), "2")
    assert first.row(0)[4:] == (2, None, 0, True)
    assert _pos(home, date(2015, 7, 31), "2").row(0)[5:] == (2.0, 1, True)
    products = pl.read_csv(products_file(home))
    assert products.select("category", "base_price").row(0) == ("food", 1.5)
    out = _harmonized(home, summary.first_date, summary.last_date)
    assert out["rejected"] == []
    assert out["sales"].filter(~pl.col("is_open"))["units"].to_list() == [0]


def test_long_rejects_bad_dates_missing_columns_and_duplicates(home, tmp_path):
    table = pl.DataFrame({"d": ["2024-01-01", "01/02/2024"], "u": [1, 2], "s": ["x", "x"]})
    file = _write(table, tmp_path / "bad.csv")
    with pytest.raises(ValueError, match=r"bad\.csv: column 'd' has 1 value.*'01/02/2024'"):
        import_long(home, file, date_col="d", units_col="u")
    with pytest.raises(
        ValueError, match=r"bad\.csv: missing column\(s\) \['qty'\]; available: d, u"
    ):
        import_long(home, file, date_col="d", units_col="qty")
    same_day = table.with_columns(d=pl.lit("2024-01-01"))
    dup = _write(same_day, tmp_path / "dup.csv")
    with pytest.raises(ValueError, match=r"dup\.csv: 1 \(store, item, date\) key.*x2"):
        import_long(home, dup, date_col="d", units_col="u", store_col="s")
    with pytest.raises(ValueError, match="category 'toys' is not in category_aliases"):
        import_long(home, dup, date_col="d", units_col="u", category="toys")
    bad_id = _write(same_day.with_columns(s=pl.Series(["x", "a/b"])), tmp_path / "id.csv")
    with pytest.raises(ValueError, match=r"column 's' has 1 empty or unusable id.*'a/b'"):
        import_long(home, bad_id, date_col="d", units_col="u", store_col="s")
    assert not home.landing.exists()


def test_long_accepts_iso_datetimes_flag_words_and_home_category_spellings(home, tmp_path):
    table = pl.DataFrame(
        {
            "ts": ["2024-05-01T23:30:00-05:00", "2024-05-02 08:00:00Z", "2024-05-03T10:15"],
            "n": ["1", "2.0", ""],
            "promo": ["Y", "false", "0.0"],
        }
    )
    home.mappings.mkdir(parents=True)
    (home.mappings / "category_aliases.csv").write_text("alias,category\ntoys,Toys\n")
    file = _write(table, tmp_path / "t.csv")
    summary = import_long(
        home, file, date_col="ts", units_col="n", promo_col="promo", category="toys"
    )
    assert (summary.first_date, summary.last_date, summary.days) == (
        date(2024, 5, 1),
        date(2024, 5, 3),
        3,
    )
    days = [_pos(home, date(2024, 5, d), "S01") for d in (1, 2, 3)]
    assert [(f["units"][0], f["on_promo"][0]) for f in days] == [(1, 1), (2, 0), (None, 0)]
    assert pl.read_csv(products_file(home))["category"].to_list() == ["toys"]
    assert _harmonized(home, summary.first_date, summary.last_date)["products"]["category"][0] == (
        "Toys"
    )


def test_long_rejects_sales_on_a_closed_day_and_non_numeric_units(home, tmp_path):
    table = pl.DataFrame({"d": ["2024-01-01", "2024-01-02"], "u": ["1", "2"], "o": ["1", "0"]})
    file = _write(table, tmp_path / "t.csv")
    with pytest.raises(ValueError, match="1 row.* have units on a day 'o' marks closed"):
        import_long(home, file, date_col="d", units_col="u", open_col="o")
    with pytest.raises(ValueError, match=r"t\.csv: column 'd' has 2 value.*numbers.*'2024-01-01'"):
        import_long(home, file, date_col="d", units_col="u", price_col="d")
