from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from intel_platform.core.contracts import Contract, SchemaDriftError
from intel_platform.core.ingest import LandingFileError, ingest_files, read_as_text
from intel_platform.core.landing import day_folder, landed_files, publish

CONTRACT = Contract(
    name="toy",
    aliases={"line_id": ("pos_line_id",), "units": ("qty",), "price": ("unit_price",)},
    required=frozenset({"line_id", "units"}),
)
AT = datetime(2024, 3, 9, 6, 30)
DAY = date(2024, 3, 8)
EXPECTED_TEXT = {
    "pos_line_id": ["1", "2", "3"],
    "qty": ["2", "n/a", "-1"],
    "unit_price": ["1.50", "3", None],
}


def _csv(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_read_as_text_csv_keeps_every_value_as_text(tmp_path):
    path = _csv(tmp_path / "a.csv", "pos_line_id,qty,unit_price\n1,2,1.50\n2,n/a,3\n3,-1,\n")
    frame = read_as_text(path)
    assert frame.to_dict(as_series=False) == EXPECTED_TEXT
    assert set(frame.schema.values()) == {pl.String}


def test_read_as_text_jsonl_casts_every_column_to_text(tmp_path):
    path = _csv(
        tmp_path / "a.jsonl",
        '{"pos_line_id": 1, "qty": 2, "unit_price": "1.50"}\n'
        '{"pos_line_id": 2, "qty": "n/a", "unit_price": 3}\n'
        '{"pos_line_id": 3, "qty": -1, "unit_price": null}\n',
    )
    frame = read_as_text(path)
    assert frame.to_dict(as_series=False) == EXPECTED_TEXT
    assert set(frame.schema.values()) == {pl.String}


def test_read_as_text_parquet_casts_typed_columns_to_text(tmp_path):
    path = tmp_path / "a.parquet"
    pl.DataFrame(
        {"pos_line_id": [1, 2, 3], "qty": ["2", "n/a", "-1"], "unit_price": [1.5, 3.0, None]}
    ).write_parquet(path)
    frame = read_as_text(path)
    assert frame.to_dict(as_series=False) == {
        "pos_line_id": ["1", "2", "3"],
        "qty": ["2", "n/a", "-1"],
        "unit_price": ["1.5", "3.0", None],
    }
    assert set(frame.schema.values()) == {pl.String}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.parquet", b"this is not parquet"),
        ("bad.jsonl", b"{not json\n"),
        ("ragged.csv", b"a,b\n1,2,3\n"),
    ],
)
def test_unreadable_file_raises_landing_file_error_naming_it(tmp_path, name, content):
    path = tmp_path / "pos" / name
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(LandingFileError, match=r"pos/" + name.replace(".", r"\.") + ": cannot"):
        read_as_text(path)


def test_missing_file_raises_landing_file_error(tmp_path):
    with pytest.raises(LandingFileError, match="gone.csv"):
        read_as_text(tmp_path / "gone.csv")


def test_unsupported_suffix_raises(tmp_path):
    path = _csv(tmp_path / "sales.xlsx", "a,b\n1,2\n")
    with pytest.raises(LandingFileError, match=r"sales\.xlsx: unsupported file type '\.xlsx'"):
        read_as_text(path)


def test_empty_export_reads_as_zero_rows(tmp_path):
    assert read_as_text(_csv(tmp_path / "empty.csv", "")).shape == (0, 0)
    assert read_as_text(_csv(tmp_path / "blank.jsonl", "\n\n")).shape == (0, 0)


def test_ingest_files_adds_audit_columns(tmp_path):
    root = tmp_path / "landing"
    first = _csv(root / "pos" / "2024-03-08" / "a.csv", "pos_line_id,qty\n1,2\n2,n/a\n")
    second = _csv(root / "pos" / "2024-03-08" / "b.csv", "line_id,units,unit_price\n9,1,2.5\n")
    out = ingest_files([first, second], CONTRACT, landing_root=root, partition=DAY, ingested_at=AT)
    assert out.to_dict(as_series=False) == {
        "pos_line_id": ["1", "2", None],
        "qty": ["2", "n/a", None],
        "_source_file": ["pos/2024-03-08/a.csv"] * 2 + ["pos/2024-03-08/b.csv"],
        "_row_number": [1, 2, 1],
        "_partition": [DAY, DAY, DAY],
        "_ingested_at": [AT, AT, AT],
        "line_id": [None, None, "9"],
        "units": [None, None, "1"],
        "unit_price": [None, None, "2.5"],
    }
    assert out.schema["_row_number"] == pl.Int32
    assert out.schema["_partition"] == pl.Date
    assert out.schema["_ingested_at"] == pl.Datetime("us")


def test_ingest_files_reference_file_has_null_partition(tmp_path):
    path = _csv(tmp_path / "catalog.csv", "line_id,units\n1,2\n")
    out = ingest_files([path], CONTRACT, landing_root=tmp_path, partition=None, ingested_at=AT)
    assert out["_partition"].to_list() == [None]
    assert out.schema["_partition"] == pl.Date
    assert out["_source_file"].to_list() == ["catalog.csv"]


def test_ingest_files_without_files_is_empty():
    out = ingest_files([], CONTRACT, landing_root=Path("."), partition=DAY, ingested_at=AT)
    assert out.shape == (0, 0)


def test_ingest_files_header_drift_raises_before_anything_is_returned(tmp_path):
    good = _csv(tmp_path / "a.csv", "line_id,units\n1,2\n")
    drifted = _csv(tmp_path / "b.csv", "line_id,units,cost\n1,2,3\n")
    with pytest.raises(SchemaDriftError) as caught:
        ingest_files(
            [good, drifted], CONTRACT, landing_root=tmp_path, partition=DAY, ingested_at=AT
        )
    assert caught.value.file == str(drifted)
    assert caught.value.unknown == ["cost"]
    assert caught.value.missing == []


# --- landing ----------------------------------------------------------------------------------


def test_publish_writes_through_part_file_and_leaves_none(tmp_path):
    target = day_folder(tmp_path, "pos_sales", DAY) / "a.csv"
    seen = []

    def write(tmp: Path) -> None:
        seen.append(tmp.name)
        tmp.write_text("x\n1\n")

    assert publish(target, write) == target
    assert seen == ["a.csv.part"]
    assert target.read_text() == "x\n1\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.csv"]


def test_publish_replaces_an_existing_file(tmp_path):
    target = tmp_path / "a.csv"
    target.write_text("old")
    publish(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.csv"]


def test_day_folder_is_source_then_iso_day(tmp_path):
    assert day_folder(tmp_path, "pos_sales", DAY) == tmp_path / "pos_sales" / "2024-03-08"


def test_landed_files_ignores_in_flight_part_files_and_sorts(tmp_path):
    for name in ["b.csv", "a.csv", "c.csv.part", "notes.txt"]:
        (tmp_path / name).write_text("x")
    assert landed_files(tmp_path, "*.csv*") == [tmp_path / "a.csv", tmp_path / "b.csv"]
    assert landed_files(tmp_path, "*") == [
        tmp_path / "a.csv",
        tmp_path / "b.csv",
        tmp_path / "notes.txt",
    ]


def test_landed_files_of_missing_folder_is_empty(tmp_path):
    assert landed_files(tmp_path / "nope", "*.csv") == []
