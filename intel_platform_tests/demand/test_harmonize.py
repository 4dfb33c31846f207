from datetime import date
from importlib import resources

import polars as pl
import pytest

from intel_platform.core.checks import contract_outcome
from intel_platform.core.quarantine import RAW_INDEX, indexed
from intel_platform.demand.contracts import SALES, SalesModel, category_aliases
from intel_platform.demand.harmonize import (
    INVENTORY_SCHEMA,
    SALES_SCHEMA,
    expected_pos_keys,
    split_inventory,
    split_products,
    split_sales,
    split_stores,
    update_first_seen,
)

DAY, NEXT = date(2024, 3, 8), date(2024, 3, 9)
FILE = "pos_sales/2024-03-08/a.csv"
STORES = pl.DataFrame({"store_id": ["S1", "S2"], "open_date": [date(2024, 1, 1), date(2024, 3, 9)]})
PRODUCTS = pl.DataFrame(
    {
        "item_id": ["I1", "I2"],
        "base_price": pl.Series([2.0, 5.0], dtype=pl.Float32),
        "launch_date": [date(2024, 1, 1), date(2024, 3, 10)],
    }
)
GOOD_SALE = {
    "line_id": "L1", "store_id": "S1", "item_id": "I1", "date": "2024-03-08", "units": "3",
    "price_per_unit": "2.50", "promo": "0", "is_open": "1",
}  # fmt: skip


def _raw(columns: dict[str, list[str | None]], files: list[str] | None = None) -> pl.DataFrame:
    """All-text raw rows with audit columns, indexed as the harmonize driver does."""
    n = len(next(iter(columns.values())))
    files = files or [FILE] * n
    rows = [sum(1 for f in files[: i + 1] if f == files[i]) for i in range(n)]
    frame = pl.DataFrame(columns, schema={c: pl.String for c in columns}).with_columns(
        _source_file=pl.Series(files, dtype=pl.String),
        _row_number=pl.Series(rows, dtype=pl.Int32),
        _partition=pl.lit(DAY, dtype=pl.Date),
    )
    return indexed(frame)


def _sales_rows(*rows: dict[str, str | None]) -> pl.DataFrame:
    return _raw({c: [r.get(c) for r in rows] for c in GOOD_SALE})


def _split_sales(raw: pl.DataFrame, source: str = "pos", last: date = NEXT):
    return split_sales(raw, source=source, stores=STORES, products=PRODUCTS, first=DAY, last=last)


def _sorted(frame: pl.DataFrame, by: str = "line_id") -> pl.DataFrame:
    return frame.sort(by)


# --- sales aliases ----------------------------------------------------------------------------


def test_pos_header_harmonizes():
    raw = _raw(
        {
            "pos_line_id": ["P1", "P2"],
            "store": ["S1", "S2"],
            "item_id": ["I1", "I1"],
            "sale_date": ["2024-03-08", "2024-03-09"],
            "units": ["3", "0"],
            "unit_price": ["2.50", "2.00"],
            "on_promo": ["1", "0"],
        }
    )
    good, rejected = _split_sales(raw)
    assert rejected.height == 0
    expected = pl.DataFrame(
        {
            "source": ["pos", "pos"],
            "line_id": ["P1", "P2"],
            "store_id": ["S1", "S2"],
            "item_id": ["I1", "I1"],
            "date": [DAY, NEXT],
            "units": [3, 0],
            "price_per_unit": [2.5, 2.0],
            "promo": [True, False],
            "is_open": [None, None],
            "source_file": [FILE, FILE],
        },
        schema=SALES_SCHEMA,
    )
    assert _sorted(good).equals(expected)


def test_web_shop_header_harmonizes():
    raw = _raw(
        {
            "order_line_id": ["O1-1", "O1-2"],
            "fulfillment_store": ["S1", "S1"],
            "sku": ["I1", "I2"],
            "order_date": ["2024-03-08T09:15:00", "2024-03-08T09:15:00"],
            "qty": ["1", "2"],
            "price_per_unit": ["2.0", "4.75"],
            "promotion": ["false", "true"],
        }
    )
    good, rejected = _split_sales(raw, source="ecom")
    assert rejected.height == 0
    assert _sorted(good).to_dict(as_series=False) == {
        "source": ["ecom", "ecom"],
        "line_id": ["O1-1", "O1-2"],
        "store_id": ["S1", "S1"],
        "item_id": ["I1", "I2"],
        "date": [DAY, DAY],
        "units": [1, 2],
        "price_per_unit": [2.0, 4.75],
        "promo": [False, True],
        "is_open": [None, None],
        "source_file": [FILE, FILE],
    }


def test_silent_rename_unit_price_to_price_per_unit_keeps_price():
    common = {"store": ["S1"], "sale_date": ["2024-03-08"], "units": ["3"], "on_promo": ["0"]}
    before = {"pos_line_id": ["P1"], "item_id": ["I1"], "unit_price": ["2.50"], **common}
    after = {"pos_line_id": ["P2"], "item_id": ["I2"], "price_per_unit": ["4.50"], **common}
    # both files of one day, stacked the way ingestion stacks them (columns united by name)
    raw = pl.concat([_raw(before, ["pos/a.csv"]), _raw(after, ["pos/b.csv"])], how="diagonal").drop(
        RAW_INDEX
    )
    good, rejected = _split_sales(indexed(raw))
    assert rejected.height == 0
    assert _sorted(good).select("line_id", "price_per_unit", "source_file").rows() == [
        ("P1", 2.5, "pos/a.csv"),
        ("P2", 4.5, "pos/b.csv"),
    ]


@pytest.mark.parametrize(
    ("canonical", "alias"),
    [(canonical, alias) for canonical, names in SALES.aliases.items() for alias in names],
)
def test_each_sales_alias_carries_its_column(canonical, alias):
    raw = _sales_rows(GOOD_SALE | {"promo": "yes", "is_open": "no"}).rename({canonical: alias})
    good, rejected = _split_sales(raw)
    assert rejected.height == 0
    assert good.drop("source_file").row(0) == (
        "pos", "L1", "S1", "I1", DAY, 3, 2.5, True, False,
    )  # fmt: skip


# --- sales quarantine reasons -----------------------------------------------------------------

OTHER = GOOD_SALE | {"line_id": "L2", "item_id": "I2", "price_per_unit": "5"}


@pytest.mark.parametrize(
    ("reason", "change"),
    [
        ("missing_line_id", {"line_id": None}),
        ("missing_line_id", {"line_id": "  "}),
        ("missing_units", {"units": None}),
        ("missing_units", {"units": ""}),
        ("unparseable_units", {"units": "n/a"}),
        ("unparseable_units", {"units": "2.5"}),
        ("negative_units", {"units": "-1"}),
        ("absurd_units", {"units": "100001"}),
        ("unparseable_price", {"price_per_unit": "n/a"}),
        ("non_positive_price", {"price_per_unit": "0"}),
        ("non_positive_price", {"price_per_unit": "-2.5"}),
        ("missing_date", {"date": None}),
        ("unparseable_date", {"date": "08/03/2024"}),
        ("date_outside_partition", {"date": "2024-03-07"}),
        ("date_outside_partition", {"date": "2024-03-10T00:00:00"}),
        ("unknown_store", {"store_id": "S9"}),
        ("unknown_item", {"item_id": "I9"}),
        ("absurd_price", {"price_per_unit": "40.01"}),  # base price 2.0 x 20
        ("unparseable_promo", {"promo": "maybe"}),
        ("unparseable_is_open", {"is_open": "closed?"}),
        ("duplicate_line_id", {"line_id": "L1", "item_id": "I2", "store_id": "S2"}),
        ("duplicate_store_item_day", {"line_id": "L3"}),
    ],
)
def test_split_sales_quarantines_each_reason_and_keeps_good_rows(reason, change):
    raw = _sales_rows(GOOD_SALE, OTHER, GOOD_SALE | {"line_id": "L3", "units": "7"} | change)
    good, rejected = _split_sales(raw)
    assert good.height + rejected.height == raw.height
    assert rejected["reason"].to_list() == [reason]
    assert rejected[RAW_INDEX].to_list() == [2]
    assert rejected["_row_number"].to_list() == [3]
    assert _sorted(good).select("line_id", "item_id", "units", "price_per_unit").rows() == [
        ("L1", "I1", 3, 2.5),
        ("L2", "I2", 3, 5.0),
    ]


def test_first_broken_rule_wins():
    raw = _sales_rows(GOOD_SALE | {"units": "-1", "price_per_unit": "0", "store_id": "S9"})
    _, rejected = _split_sales(raw)
    assert rejected["reason"].to_list() == ["negative_units"]


def test_every_raw_row_lands_in_exactly_one_output():
    raw = _sales_rows(
        GOOD_SALE,
        GOOD_SALE | {"line_id": "L2", "units": "x"},
        GOOD_SALE | {"line_id": "L3", "item_id": "I2", "price_per_unit": None},
        GOOD_SALE | {"line_id": "L3", "item_id": "I2", "store_id": "S2"},
        GOOD_SALE | {"line_id": "L5"},
        GOOD_SALE | {"line_id": "L6", "date": "2024-03-01"},
    )
    good, rejected = _split_sales(raw)
    assert sorted(good["line_id"].to_list()) == ["L1", "L3"]
    assert sorted(rejected.select(RAW_INDEX, "reason").rows()) == [
        (1, "unparseable_units"),
        (3, "duplicate_line_id"),
        (4, "duplicate_store_item_day"),
        (5, "date_outside_partition"),
    ]


def test_absurd_price_boundary_is_kept():
    good, rejected = _split_sales(_sales_rows(GOOD_SALE | {"price_per_unit": "40"}))
    assert rejected.height == 0
    assert good["price_per_unit"].to_list() == [40.0]


def test_missing_price_stays_null_and_is_not_quarantined():
    raw = _sales_rows(GOOD_SALE | {"price_per_unit": None}, OTHER | {"price_per_unit": " "})
    good, rejected = _split_sales(raw)
    assert rejected.height == 0
    assert _sorted(good)["price_per_unit"].to_list() == [None, None]
    assert good.schema["price_per_unit"] == pl.Float32


def test_unit_text_forms_of_whole_numbers_are_accepted():
    raw = _sales_rows(
        GOOD_SALE | {"units": " 4 "},
        OTHER | {"units": "5.0"},
        GOOD_SALE | {"line_id": "L3", "store_id": "S2", "units": "0"},
    )
    good, rejected = _split_sales(raw)
    assert rejected.height == 0
    assert _sorted(good)["units"].to_list() == [4, 5, 0]


@pytest.mark.parametrize(
    "text",
    ["2024-03-08", "2024-03-08T23:59:59", "2024-03-08T23:30:00-05:00", "2024-03-08 07:00:00"],
)
def test_iso_datetime_dates_are_cut_to_the_day(text):
    good, rejected = _split_sales(_sales_rows(GOOD_SALE | {"date": text}))
    assert rejected.height == 0
    assert good["date"].to_list() == [DAY]


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("1", True), ("true", True), ("TRUE", True), ("t", True), ("Yes", True), ("y", True),
        (" Y ", True), ("0", False), ("false", False), ("False", False), ("f", False),
        ("no", False), ("N", False), (None, False), ("", False),
    ],
)  # fmt: skip
def test_promo_flag_spellings(text, flag):
    good, rejected = _split_sales(_sales_rows(GOOD_SALE | {"promo": text}))
    assert rejected.height == 0
    assert good["promo"].to_list() == [flag]


@pytest.mark.parametrize(("text", "flag"), [("yes", True), ("F", False), (None, None)])
def test_is_open_flag_stays_null_when_missing(text, flag):
    good, _ = _split_sales(_sales_rows(GOOD_SALE | {"is_open": text}))
    assert good["is_open"].to_list() == [flag]


def test_duplicate_store_item_day_is_allowed_for_the_web_shop():
    raw = _sales_rows(GOOD_SALE, GOOD_SALE | {"line_id": "L2"})
    good, rejected = _split_sales(raw, source="ecom")
    assert rejected.height == 0
    assert sorted(good["line_id"].to_list()) == ["L1", "L2"]


def test_first_duplicate_in_arrival_order_wins_and_invalid_rows_do_not_count():
    raw = _raw(
        {
            "line_id": ["L1", "L1", "L1"],
            "store_id": ["S1", "S1", "S1"],
            "item_id": ["I1", "I1", "I1"],
            "date": ["2024-03-08"] * 3,
            "units": ["-1", "5", "6"],  # the first arrival is invalid
            "price_per_unit": ["2"] * 3,
        },
        files=["pos/a.csv", "pos/b.csv", "pos/a.csv"],  # arrival: a#1, a#2, b#1
    )
    good, rejected = _split_sales(raw)
    assert good.select("units", "source_file").rows() == [(6, "pos/a.csv")]
    assert sorted(rejected.select("_source_file", "_row_number", "reason").rows()) == [
        ("pos/a.csv", 1, "negative_units"),
        ("pos/b.csv", 1, "duplicate_line_id"),
    ]


@pytest.mark.parametrize("units", ["3000000000", "inf", "NaN"])
def test_units_beyond_int32_are_quarantined_not_a_crash(units):
    good, rejected = _split_sales(_sales_rows(GOOD_SALE, OTHER | {"units": units}))
    assert good["line_id"].to_list() == ["L1"]
    assert rejected["reason"].to_list()[0] in {"absurd_units", "unparseable_units"}


def test_split_sales_output_passes_the_sales_contract():
    raw = _sales_rows(GOOD_SALE, OTHER | {"price_per_unit": None, "is_open": None})
    good, _ = _split_sales(raw)
    assert contract_outcome(SalesModel, good).passed


# --- SalesModel -------------------------------------------------------------------------------


def _sales_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [(*r, 2.0, False, None, "f.csv") for r in rows],
        schema=SALES_SCHEMA,
        orient="row",
    )


def test_sales_model_rejects_negative_units_duplicates_and_double_pos_rows():
    frame = _sales_frame(
        [
            ("pos", "L1", "S1", "I1", DAY, 3),
            ("pos", "L2", "S1", "I2", DAY, -1),  # negative unit
            ("ecom", "E1", "S1", "I1", DAY, 1),
            ("ecom", "E1", "S2", "I1", DAY, 1),  # duplicated (source, line_id)
            ("pos", "L3", "S2", "I2", DAY, 1),
            ("pos", "L4", "S2", "I2", DAY, 2),  # second POS row for S2-I2-DAY
        ]
    )
    outcome = contract_outcome(SalesModel, frame)
    assert outcome.failures == {
        "table: multiple_fields_uniqueness": 2,
        "table: one_pos_row_per_store_item_day": 2,
        "units: greater_than_or_equal_to(0)": 1,
    }
    assert outcome.sample["line_id"].to_list() == ["L2", "E1", "E1", "L3", "L4"]
    assert outcome.files == ("f.csv",)
    assert outcome.partitions == ("2024-03-08",)


def test_sales_model_allows_two_web_rows_for_one_store_item_day():
    frame = _sales_frame([("ecom", "E1", "S1", "I1", DAY, 1), ("ecom", "E2", "S1", "I1", DAY, 2)])
    assert contract_outcome(SalesModel, frame).passed


# --- inventory --------------------------------------------------------------------------------

GOOD_STOCK = {
    "store_id": "S1",
    "item_id": "I1",
    "date": "2024-03-08",
    "on_hand": "4",
    "on_order": "2",
}


def _stock_rows(*rows: dict[str, str | None]) -> pl.DataFrame:
    return _raw({c: [r.get(c) for r in rows] for c in GOOD_STOCK})


def _split_inventory(raw: pl.DataFrame):
    return split_inventory(raw, stores=STORES, products=PRODUCTS, first=DAY, last=DAY)


def test_inventory_aliases_harmonize():
    raw = _raw(
        {
            "store_code": ["S1", "S2"],
            "product_sku": ["I1", "I1"],
            "snapshot_date": ["2024-03-08", "2024-03-08"],
            "qty_on_hand": ["4", "0"],
            "qty_on_order": ["2", None],
        }
    )
    good, rejected = _split_inventory(raw)
    assert rejected.height == 0
    expected = pl.DataFrame(
        {
            "store_id": ["S1", "S2"],
            "item_id": ["I1", "I1"],
            "date": [DAY, DAY],
            "on_hand": [4, 0],
            "on_order": [2, None],
            "source_file": [FILE, FILE],
        },
        schema=INVENTORY_SCHEMA,
    )
    assert good.sort("store_id").equals(expected)


@pytest.mark.parametrize(
    ("reason", "change"),
    [
        ("missing_on_hand", {"on_hand": None}),
        ("unparseable_on_hand", {"on_hand": "lots"}),
        ("negative_on_hand", {"on_hand": "-2"}),
        ("unparseable_on_order", {"on_order": "1.5"}),
        ("negative_on_order", {"on_order": "-1"}),
        ("unparseable_date", {"date": None}),
        ("unparseable_date", {"date": "yesterday"}),
        ("date_outside_partition", {"date": "2024-03-09"}),
        ("unknown_store", {"store_id": "S9"}),
        ("unknown_item", {"item_id": "I9"}),
        ("duplicate_store_item_day", {"on_hand": "9"}),
    ],
)
def test_split_inventory_quarantines_each_reason(reason, change):
    raw = _stock_rows(GOOD_STOCK, GOOD_STOCK | {"item_id": "I2"}, GOOD_STOCK | change)
    good, rejected = _split_inventory(raw)
    assert rejected.select(RAW_INDEX, "reason").rows() == [(2, reason)]
    assert good.sort("item_id").select("item_id", "on_hand").rows() == [("I1", 4), ("I2", 4)]


def test_inventory_on_hand_beyond_int32_is_quarantined_not_a_crash():
    good, rejected = _split_inventory(_stock_rows(GOOD_STOCK | {"on_hand": "3000000000"}))
    assert good.height == 0
    assert rejected.height == 1


# --- products and categories ------------------------------------------------------------------

SHIPPED = pl.read_csv(
    resources.files("intel_platform.demand").joinpath("category_aliases.csv").read_bytes()
)


def _oddly_spelled(alias: str) -> str:
    """Mixed case, padded, internal blanks widened: what a catalog export does to a label."""
    mixed = "".join(c.upper() if i % 2 == 0 else c for i, c in enumerate(alias))
    return f"  {mixed.replace(' ', '  ')}\t"


def _product_rows(*rows: tuple[str | None, str | None, str | None]) -> pl.DataFrame:
    """(sku, cat, list_price) rows in the catalog's own header."""
    n = len(rows)
    return _raw(
        {
            "sku": [r[0] for r in rows],
            "name": [f"name {r[0]}" for r in rows],
            "cat": [r[1] for r in rows],
            "dept": ["D1"] * n,
            "launched": ["2024-01-01"] * n,
            "list_price": [r[2] for r in rows],
        },
        files=["catalog.csv"] * n,
    )


@pytest.mark.parametrize(("alias", "category"), SHIPPED.rows())
def test_each_shipped_category_spelling_maps_to_its_category(alias, category):
    raw = _product_rows(("I1", _oddly_spelled(alias), "2.5"))
    good, rejected = split_products(raw, categories=category_aliases())
    assert rejected.height == 0
    assert good.row(0, named=True) == {
        "item_id": "I1",
        "item_name": "name I1",
        "category": category,
        "department": "D1",
        "launch_date": date(2024, 1, 1),
        "base_price": 2.5,
        "source_file": "catalog.csv",
    }


def test_user_mapping_adds_a_spelling_and_wins_on_conflict(tmp_path):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "category_aliases.csv").write_text(
        "alias,category\nGadgets,Electronics\n FOOD ,Household\n"
    )
    categories = category_aliases(mappings)
    raw = _product_rows(("I1", "gadgets", "1"), ("I2", "Food", "1"), ("I3", "groc", "1"))
    good, rejected = split_products(raw, categories=categories)
    assert rejected.height == 0
    assert good.sort("item_id")["category"].to_list() == ["Electronics", "Household", "Grocery"]
    # without the user file the new spelling is unknown and food is still Grocery
    good, rejected = split_products(raw, categories=category_aliases(tmp_path / "absent"))
    assert good["category"].to_list() == ["Grocery", "Grocery"]
    assert rejected.select("item_id", "reason").rows() == [("I1", "unknown_category")]


def test_split_products_quarantines_unknown_category_and_duplicate_item_id():
    raw = _product_rows(
        ("I1", "Electronics", "2.5"),
        ("I2", "Gizmos", "3"),
        ("I1", "grocery", "9"),
        ("I3", None, "1"),
    )
    good, rejected = split_products(raw, categories=category_aliases())
    assert good.select("item_id", "category", "base_price").rows() == [("I1", "Electronics", 2.5)]
    assert rejected.select(RAW_INDEX, "reason").sort(RAW_INDEX).rows() == [
        (1, "unknown_category"),
        (2, "duplicate_item_id"),
        (3, "unknown_category"),
    ]


@pytest.mark.parametrize(
    ("reason", "row"),
    [
        ("missing_item_id", (None, "food", "1")),
        ("unparseable_price", ("I2", "food", "n/a")),
        ("unparseable_price", ("I2", "food", None)),
        ("non_positive_price", ("I2", "food", "0")),
    ],
)
def test_split_products_other_reasons(reason, row):
    good, rejected = split_products(
        _product_rows(("I1", "food", "1"), row), categories=category_aliases()
    )
    assert good["item_id"].to_list() == ["I1"]
    assert rejected["reason"].to_list() == [reason]


# --- stores -----------------------------------------------------------------------------------


def test_split_stores_harmonizes_and_quarantines():
    raw = _raw(
        {
            "store": ["S1", "S2", "S1", None, "S3"],
            "name": ["One", "Two", "One again", "Nobody", "Three"],
            "region": ["CA", "TX", "CA", "WI", "WI"],
            "opened": ["2024-01-01", "2024-03-09T00:00:00", "2020-01-01", "2024-01-01", "soon"],
        },
        files=["stores.csv"] * 5,
    )
    good, rejected = split_stores(raw)
    assert good.sort("store_id").to_dict(as_series=False) == {
        "store_id": ["S1", "S2"],
        "store_name": ["One", "Two"],
        "state": ["CA", "TX"],
        "open_date": [date(2024, 1, 1), NEXT],
        "source_file": ["stores.csv", "stores.csv"],
    }
    assert rejected.select(RAW_INDEX, "reason").sort(RAW_INDEX).rows() == [
        (2, "duplicate_store_id"),
        (3, "missing_store_id"),
        (4, "unparseable_open_date"),
    ]


# --- expected POS keys ------------------------------------------------------------------------


ALL_SEEN = pl.DataFrame(
    {
        "store_id": ["S1", "S1", "S2", "S2"],
        "item_id": ["I1", "I2", "I1", "I2"],
        "first_seen": [date(2024, 1, 1)] * 4,
    }
)


def test_expected_pos_keys_respect_open_and_launch_dates():
    keys = expected_pos_keys(STORES, PRODUCTS, ALL_SEEN, DAY, date(2024, 3, 10))
    assert keys.sort("date", "store_id", "item_id").rows() == [
        ("S1", "I1", DAY),
        ("S1", "I1", NEXT),
        ("S2", "I1", NEXT),  # S2 opens on the 9th
        ("S1", "I1", date(2024, 3, 10)),
        ("S1", "I2", date(2024, 3, 10)),  # I2 launches on the 10th
        ("S2", "I1", date(2024, 3, 10)),
        ("S2", "I2", date(2024, 3, 10)),
    ]
    assert keys.columns == ["store_id", "item_id", "date"]


def test_expected_pos_keys_follow_each_stores_own_assortment():
    """M5 ranges items per store: an item a store never reported is not expected there, and a
    store-item is expected from the first day that store reported it, not the global launch."""
    seen = pl.DataFrame(
        {"store_id": ["S1", "S2"], "item_id": ["I1", "I1"], "first_seen": [DAY, date(2024, 3, 10)]}
    )
    keys = expected_pos_keys(STORES, PRODUCTS, seen, DAY, date(2024, 3, 10))
    assert keys.sort("date", "store_id").rows() == [
        ("S1", "I1", DAY),
        ("S1", "I1", NEXT),
        ("S1", "I1", date(2024, 3, 10)),
        ("S2", "I1", date(2024, 3, 10)),
    ]


def test_update_first_seen_keeps_the_earliest_day_per_store_item():
    seen = pl.DataFrame({"store_id": ["S1"], "item_id": ["I1"], "first_seen": [NEXT]})
    arrived = pl.DataFrame(
        {"store_id": ["S1", "S1", "S2"], "item_id": ["I1", "I1", "I2"], "date": [DAY, NEXT, NEXT]}
    )
    updated = update_first_seen(seen, arrived).sort("store_id")
    assert updated.rows() == [("S1", "I1", DAY), ("S2", "I2", NEXT)]
