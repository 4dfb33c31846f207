"""The ``intel-platform`` command drives the same functions the tests exercise directly."""

from datetime import date

import polars as pl
import pytest

from intel_platform.cli import main
from intel_platform.demand import landing


def test_generate_demand_writes_a_landing_zone(home, capsys):
    main(["generate", "demand", "--stores", "2", "--items", "5", "--days", "3",
          "--start", "2024-01-01", "--home", str(home.root)])  # fmt: skip
    assert "GenerationSummary" in capsys.readouterr().out
    assert landing.products_file(home).exists()
    assert len(list((landing.landing_root(home) / "pos_sales").glob("*/*.csv"))) == 6


def test_import_long_table_from_the_command_line(home, tmp_path, capsys):
    table = tmp_path / "sales.csv"
    pl.DataFrame(
        {"day": ["2024-01-01", "2024-01-02"], "sold": [3, 0], "shop": ["A", "A"]}
    ).write_csv(table)
    main(["import", "long", "--file", str(table), "--date-col", "day", "--units-col", "sold",
          "--store-col", "shop", "--home", str(home.root)])  # fmt: skip
    assert "ImportSummary" in capsys.readouterr().out
    written = pl.read_csv(landing.pos_file(home, date(2024, 1, 2), "A"), infer_schema=False)
    assert written.select("store", "item_id", "units").rows() == [("A", "ALL", "0")]


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit):
        main(["nonsense"])
