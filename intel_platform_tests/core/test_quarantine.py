import json
from datetime import date

import polars as pl

from intel_platform.core.quarantine import (
    QUARANTINE_SCHEMA,
    RAW_INDEX,
    first_reason,
    indexed,
    quarantine_rows,
    reason_counts,
)

DAY = date(2024, 3, 8)
RULES = [
    ("missing_units", pl.col("units").is_null()),
    ("negative_units", pl.col("units") < 0),
    ("big_units", pl.col("units") < -5),  # also true for -9, but comes later
]


def test_first_reason_picks_the_first_rule_that_holds():
    frame = pl.DataFrame({"units": [None, -9, -1, 3]}, schema={"units": pl.Int64})
    out = frame.select(reason=first_reason(RULES))
    assert out["reason"].to_list() == ["missing_units", "negative_units", "negative_units", None]
    assert out.schema["reason"] == pl.String


def test_first_reason_order_decides():
    frame = pl.DataFrame({"units": [-9]})
    assert frame.select(first_reason(RULES[::-1]))["literal"].to_list() == ["big_units"]


def test_first_reason_without_rules_is_null():
    out = pl.DataFrame({"a": [1, 2]}).with_columns(r=first_reason([]))
    assert out["r"].to_list() == [None, None]


def _raw() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "qty": ["n/a", "2", "-1", " 7 "],
            "sku": ["I1", "I2", "I3", "I4"],
            "_source_file": ["pos/b.csv", "pos/a.csv", "pos/a.csv", "pos/b.csv"],
            "_row_number": pl.Series([1, 2, 1, 2], dtype=pl.Int32),
            "_partition": [DAY] * 4,
        }
    )


def test_indexed_numbers_rows_in_arrival_order():
    out = indexed(_raw())
    assert out[RAW_INDEX].to_list() == [0, 1, 2, 3]
    assert out.select("_source_file", "_row_number").rows() == [
        ("pos/a.csv", 1),
        ("pos/a.csv", 2),
        ("pos/b.csv", 1),
        ("pos/b.csv", 2),
    ]


def test_quarantine_rows_keep_raw_text_and_source_location():
    raw = indexed(_raw())
    # harmonization renamed and typed the values; the quarantine must show the raw text
    rejected = pl.DataFrame(
        {
            RAW_INDEX: pl.Series([3, 0], dtype=pl.UInt32),
            "units": [7, -1],
            "reason": ["unknown_item", "negative_units"],
        }
    )
    out = quarantine_rows(rejected, raw, table_name="sales", record_columns=["qty", "sku", "gone"])
    assert out.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert out.drop("record").to_dict(as_series=False) == {
        "table_name": ["sales", "sales"],
        "partition_date": [DAY, DAY],
        "source_file": ["pos/a.csv", "pos/b.csv"],
        "row_number": [1, 2],
        "reason": ["negative_units", "unknown_item"],
    }
    assert [json.loads(r) for r in out["record"]] == [
        {"qty": "-1", "sku": "I3"},
        {"qty": " 7 ", "sku": "I4"},
    ]


def test_quarantine_rows_keep_n_a_literally():
    raw = indexed(_raw())
    rejected = pl.DataFrame(
        {RAW_INDEX: pl.Series([2], dtype=pl.UInt32), "reason": ["unparseable_units"]}
    )
    out = quarantine_rows(rejected, raw, table_name="sales", record_columns=["qty"])
    assert out["record"].to_list() == ['{"qty":"n/a"}']
    assert out.select("source_file", "row_number").row(0) == ("pos/b.csv", 1)


def test_quarantine_rows_of_nothing_is_an_empty_typed_frame():
    rejected = pl.DataFrame(schema={RAW_INDEX: pl.UInt32, "reason": pl.String})
    out = quarantine_rows(rejected, indexed(_raw()), table_name="sales", record_columns=["qty"])
    assert out.height == 0
    assert out.schema == pl.Schema(QUARANTINE_SCHEMA)


def test_reason_counts():
    quarantined = pl.DataFrame({"reason": ["b", "a", "b", "b"]})
    assert reason_counts(quarantined) == {"a": 1, "b": 3}
    assert reason_counts(pl.DataFrame(schema=QUARANTINE_SCHEMA)) == {}
