from collections.abc import Iterable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from intel_platform.core.parquet_tables import parts_version, scan, staged_table


def write_parts(directory: Path, parts: Iterable[tuple[str, pl.DataFrame | pl.LazyFrame]]) -> int:
    """A whole new table of (name, frame) parts through the staged writer; returns the rows."""
    with staged_table(directory) as table:
        return sum(table.write(name, frame) for name, frame in parts)


def _parts(n: int) -> list[tuple[str, pl.DataFrame]]:
    return [(f"S{i}", pl.DataFrame({"store_id": [f"S{i}"] * (i + 1), "x": range(i + 1)}))
            for i in range(n)]  # fmt: skip


def test_write_parts_writes_frames_and_lazy_frames_and_counts_their_rows(tmp_path: Path):
    directory = tmp_path / "tables" / "demand_features" / "store_item_day"
    parts = _parts(3)
    mixed = [parts[0], (parts[1][0], parts[1][1].lazy()), parts[2]]
    assert write_parts(directory, mixed) == 1 + 2 + 3
    assert sorted(p.name for p in directory.iterdir()) == ["S0.parquet", "S1.parquet", "S2.parquet"]
    assert_frame_equal(scan(directory).collect(), pl.concat(frame for _, frame in parts))


def test_a_rebuild_replaces_every_part_and_keeps_the_version_when_unchanged(tmp_path: Path):
    directory = tmp_path / "table"
    write_parts(directory, _parts(3))
    version = parts_version(directory)
    write_parts(directory, _parts(3))
    assert parts_version(directory) == version
    write_parts(directory, _parts(2))
    assert sorted(p.name for p in directory.iterdir()) == ["S0.parquet", "S1.parquet"]
    assert parts_version(directory) != version


def test_a_failing_part_leaves_the_live_table_untouched(tmp_path: Path):
    directory = tmp_path / "table"
    write_parts(directory, _parts(2))

    def broken():
        yield from _parts(1)
        raise RuntimeError("block 2 failed")

    with pytest.raises(RuntimeError, match="block 2 failed"):
        write_parts(directory, broken())
    assert sorted(p.name for p in directory.iterdir()) == ["S0.parquet", "S1.parquet"]


def test_a_staged_table_keeps_unchanged_parts_by_link_and_writes_a_manifest(tmp_path: Path):
    directory = tmp_path / "table"
    write_parts(directory, _parts(2))
    kept_inode = (directory / "S0.parquet").stat().st_ino
    with staged_table(directory) as table:
        table.keep(["S0.parquet"])
        table.write("S5", pl.DataFrame({"store_id": ["S5"], "x": [9]}))
        table.put_text("manifest.json", "{}")
    names = sorted(p.name for p in directory.iterdir())
    assert names == ["S0.parquet", "S5.parquet", "manifest.json"]
    assert (directory / "S0.parquet").stat().st_ino == kept_inode  # linked, not copied
    assert scan(directory).collect()["x"].to_list() == [0, 9]
