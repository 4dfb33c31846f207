from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from intel_platform.core.warehouse import (
    day_chunks,
    read_range,
    read_table,
    refresh_union_view,
    replace_partitions,
    replace_table,
    table_columns,
    table_exists,
    table_name,
)

TABLE = "demand_harmonized.sales"
D1, D2, D3 = date(2024, 3, 8), date(2024, 3, 9), date(2024, 3, 10)


@pytest.fixture
def conn(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


def _sales(days: list[date], units: list[int]) -> pl.DataFrame:
    return pl.DataFrame({"date": days, "store_id": ["S1"] * len(days), "units": units})


def _write(conn, frame: pl.DataFrame, first: date, last: date) -> int:
    return replace_partitions(conn, TABLE, frame, partition_column="date", first=first, last=last)


def _all(conn) -> pl.DataFrame:
    return conn.execute(f"SELECT * FROM {TABLE} ORDER BY date, units").pl()


def test_table_name_maps_key_path_to_schema_and_table():
    assert table_name(dg.AssetKey(["demand", "harmonized", "sales"])) == "demand_harmonized.sales"
    assert table_name(["demand", "raw", "pos_sales"]) == "demand_raw.pos_sales"


def test_replace_partitions_creates_table_and_reports_rows(conn):
    assert not table_exists(conn, TABLE)
    assert _write(conn, _sales([D1, D2], [1, 2]), D1, D2) == 2
    assert table_exists(conn, TABLE)
    assert table_columns(conn, TABLE) == ["date", "store_id", "units"]


def test_replace_partitions_replaces_exactly_its_range(conn):
    _write(conn, _sales([D1, D2, D3], [1, 2, 3]), D1, D3)
    _write(conn, _sales([D2, D2], [20, 21]), D2, D2)
    assert _all(conn).to_dict(as_series=False) == {
        "date": [D1, D2, D2, D3],
        "store_id": ["S1"] * 4,
        "units": [1, 20, 21, 3],
    }


def test_replace_partitions_rerun_never_doubles(conn):
    frame = _sales([D1, D2], [1, 2])
    _write(conn, frame, D1, D2)
    _write(conn, frame, D1, D2)
    assert _all(conn)["units"].to_list() == [1, 2]


def test_replace_partitions_with_empty_frame_clears_the_range(conn):
    _write(conn, _sales([D1, D2], [1, 2]), D1, D2)
    assert _write(conn, _sales([], []).clear(), D2, D2) == 0
    assert _all(conn)["units"].to_list() == [1]


def test_replace_partitions_zero_width_frame_without_table_writes_nothing(conn):
    assert _write(conn, pl.DataFrame(), D1, D1) == 0
    assert not table_exists(conn, TABLE)


def test_new_column_in_later_partition_is_added_and_old_rows_get_null(conn):
    _write(conn, _sales([D1], [1]), D1, D1)
    later = _sales([D2], [2]).with_columns(price=pl.lit(2.5))
    _write(conn, later, D2, D2)
    assert table_columns(conn, TABLE) == ["date", "store_id", "units", "price"]
    assert _all(conn).to_dict(as_series=False) == {
        "date": [D1, D2],
        "store_id": ["S1", "S1"],
        "units": [1, 2],
        "price": [None, 2.5],
    }


def test_partition_missing_a_column_keeps_it_with_null(conn):
    _write(conn, _sales([D1], [1]).with_columns(price=pl.lit(2.5)), D1, D1)
    _write(conn, _sales([D2], [2]), D2, D2)
    assert _all(conn)["price"].to_list() == [2.5, None]


def test_failed_write_rolls_back_delete_and_schema_change(conn):
    _write(conn, _sales([D1, D2], [1, 2]), D1, D2)
    bad = pl.DataFrame({"date": [D2], "store_id": ["S1"], "units": ["lots"], "note": ["x"]})
    with pytest.raises(duckdb.Error):
        _write(conn, bad, D1, D2)
    assert table_columns(conn, TABLE) == ["date", "store_id", "units"]
    assert _all(conn)["units"].to_list() == [1, 2]
    # the connection is usable again after the rollback
    assert _write(conn, _sales([D2], [5]), D2, D2) == 1
    assert _all(conn)["units"].to_list() == [1, 5]


def test_categorical_is_written_as_varchar(conn):
    frame = _sales([D1, D2], [1, 2]).with_columns(pl.col("store_id").cast(pl.Categorical))
    _write(conn, frame, D1, D2)
    later = _sales([D3], [3]).with_columns(pl.Series("store_id", ["S9"], dtype=pl.Enum(["S9"])))
    _write(conn, later, D3, D3)
    types = dict(
        conn.execute(f"SELECT column_name, column_type FROM (DESCRIBE {TABLE})").fetchall()
    )
    assert types["store_id"] == "VARCHAR"
    assert _all(conn)["store_id"].to_list() == ["S1", "S1", "S9"]


def test_replace_table_swaps_whole_table(conn):
    table = "demand_harmonized.products"
    first = pl.DataFrame({"item_id": ["I1", "I2"], "cat": ["a", "b"]})
    assert replace_table(conn, table, first) == 2
    second = pl.DataFrame({"item_id": ["I3"], "category": pl.Series(["c"], dtype=pl.Categorical)})
    assert replace_table(conn, table, second) == 1
    out = read_table(conn, table)
    assert out.to_dict(as_series=False) == {"item_id": ["I3"], "category": ["c"]}
    assert out.schema["category"] == pl.String


def test_read_range_returns_only_the_range_and_selected_columns(conn):
    _write(conn, _sales([D1, D2, D3], [1, 2, 3]), D1, D3)
    out = read_range(conn, TABLE, partition_column="date", first=D2, last=D3, columns=["units"])
    assert out.to_dict(as_series=False) == {"units": [2, 3]}
    every = read_range(conn, TABLE, partition_column="date", first=D1, last=D1)
    assert every.to_dict(as_series=False) == {"date": [D1], "store_id": ["S1"], "units": [1]}


@pytest.mark.parametrize(
    ("first", "last", "days", "expected"),
    [
        (D1, D1, 7, [(D1, D1)]),
        (D1, D3, 1, [(D1, D1), (D2, D2), (D3, D3)]),
        (D1, D3, 2, [(D1, D2), (D3, D3)]),
        (D1, D3, 3, [(D1, D3)]),
        (D1, D3, 30, [(D1, D3)]),
        (D2, D1, 7, []),
    ],
)
def test_day_chunks_cover_the_range(first, last, days, expected):
    assert list(day_chunks(first, last, days)) == expected


def test_day_chunks_cover_a_long_range_exactly_once():
    first, last = date(2023, 12, 30), date(2024, 3, 2)
    chunks = list(day_chunks(first, last, 7))
    covered = [a + timedelta(days=i) for a, b in chunks for i in range((b - a).days + 1)]
    expected = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    assert covered == expected
    assert all((b - a).days < 7 for a, b in chunks)


def test_refresh_union_view_unions_quarantine_tables(conn):
    quarantine = pl.DataFrame({"table_name": ["sales"], "reason": ["negative_units"]})
    replace_table(conn, "demand_harmonized.sales_quarantine", quarantine)
    replace_table(
        conn,
        "demand_harmonized.products_quarantine",
        pl.DataFrame({"reason": ["unknown_category"], "table_name": ["products"], "x": [1]}),
    )
    replace_table(conn, "demand_harmonized.sales", pl.DataFrame({"reason": ["not me"]}))
    refresh_union_view(conn, "demand_harmonized", "quarantine")
    out = conn.execute(
        "SELECT table_name, reason, x FROM demand_harmonized.quarantine ORDER BY table_name"
    ).pl()
    assert out.to_dict(as_series=False) == {
        "table_name": ["products", "sales"],
        "reason": ["unknown_category", "negative_units"],
        "x": [1, None],
    }


def test_refresh_union_view_without_matching_tables_creates_nothing(conn):
    replace_table(conn, "demand_harmonized.sales", pl.DataFrame({"a": [1]}))
    refresh_union_view(conn, "demand_harmonized", "quarantine")
    assert not table_exists(conn, "demand_harmonized.quarantine")
    views = conn.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'quarantine'")
    assert views.fetchone() == (0,)
