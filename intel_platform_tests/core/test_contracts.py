from pathlib import Path

import polars as pl
import pytest

from intel_platform.core.contracts import Contract, SchemaDriftError

CONTRACT = Contract(
    name="toy",
    aliases={
        "store_id": ("store", "store_code"),
        "units": ("qty", "quantity"),
        "price": ("unit_price", "price_per_unit"),
        "promo": ("on_promo",),
    },
    required=frozenset({"store_id", "units", "price"}),
)


@pytest.mark.parametrize(
    ("source", "canonical"),
    [
        ("store_id", "store_id"),
        ("store", "store_id"),
        ("store_code", "store_id"),
        ("qty", "units"),
        ("quantity", "units"),
        ("unit_price", "price"),
        ("price_per_unit", "price"),
        ("on_promo", "promo"),
        ("colour", None),
    ],
)
def test_canonical_of_maps_canonical_names_and_aliases(source, canonical):
    assert CONTRACT.canonical_of(source) == canonical


def test_check_header_maps_known_aliases_to_canonical_names():
    mapping = CONTRACT.check_header("day/a.csv", ["store", "qty", "unit_price", "on_promo"])
    assert mapping == {
        "store": "store_id",
        "qty": "units",
        "unit_price": "price",
        "on_promo": "promo",
    }


def test_check_header_accepts_two_aliases_of_one_canonical_column():
    mapping = CONTRACT.check_header("a.csv", ["store_id", "units", "unit_price", "price_per_unit"])
    assert mapping == {
        "store_id": "store_id",
        "units": "units",
        "unit_price": "price",
        "price_per_unit": "price",
    }


def test_check_header_unknown_column_raises_naming_file_and_columns():
    with pytest.raises(SchemaDriftError) as caught:
        CONTRACT.check_header(Path("pos/2024-01-01/a.csv"), ["store", "qty", "price", "zz", "aa"])
    error = caught.value
    assert error.file == "pos/2024-01-01/a.csv"
    assert error.unknown == ["aa", "zz"]
    assert error.missing == []
    assert "pos/2024-01-01/a.csv" in str(error)
    assert "unknown columns ['aa', 'zz']" in str(error)
    assert "no column for required" not in str(error)


def test_check_header_missing_required_column_raises():
    with pytest.raises(SchemaDriftError) as caught:
        CONTRACT.check_header("b.csv", ["store", "on_promo"])
    error = caught.value
    assert error.unknown == []
    assert error.missing == ["price", "units"]
    assert str(error).startswith("b.csv: no column for required ['price', 'units']")


def test_silent_rename_to_an_unknown_name_reports_both_unknown_and_missing():
    with pytest.raises(SchemaDriftError) as caught:
        CONTRACT.check_header("c.csv", ["store", "qty", "cost"])
    assert caught.value.unknown == ["cost"]
    assert caught.value.missing == ["price"]
    assert "unknown columns ['cost']; no column for required ['price']" in str(caught.value)


def test_optional_canonical_column_may_be_absent():
    assert CONTRACT.check_header("d.csv", ["store", "qty", "price"]) == {
        "store": "store_id",
        "qty": "units",
        "price": "price",
    }


def test_source_names_lists_canonical_first_then_aliases_in_contract_order():
    available = ["price_per_unit", "unit_price", "price", "qty"]
    assert CONTRACT.source_names("price", available) == ["price", "unit_price", "price_per_unit"]
    assert CONTRACT.source_names("promo", available) == []


def test_canonical_columns_coalesces_aliases_as_text():
    frame = pl.DataFrame(
        {
            "store": ["S1", "S2", "S3"],
            "qty": [1, 2, 3],
            "unit_price": ["1.5", None, None],
            "price_per_unit": ["9.0", "2.5", None],
        }
    )
    out = frame.select(CONTRACT.canonical_columns(frame.columns))
    expected = pl.DataFrame(
        {
            "store_id": ["S1", "S2", "S3"],
            "units": ["1", "2", "3"],
            "price": ["1.5", "2.5", None],
            "promo": pl.Series([None, None, None], dtype=pl.String),
        }
    )
    assert out.to_dict(as_series=False) == expected.to_dict(as_series=False)
    assert out.schema == expected.schema


def test_lineage_lists_source_columns_per_canonical_column():
    assert CONTRACT.lineage(["store_code", "qty", "unit_price", "price_per_unit", "extra"]) == {
        "store_id": ["store_code"],
        "units": ["qty"],
        "price": ["unit_price", "price_per_unit"],
        "promo": [],
    }
