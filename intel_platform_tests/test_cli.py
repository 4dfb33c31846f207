"""The ``intel-platform`` command drives the same functions the tests exercise directly."""

from datetime import date

import polars as pl
import pytest

from intel_platform.churn import landing as churn_landing
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


def test_generate_churn_writes_three_sources_a_day(home, capsys):
    main(["generate", "churn", "--customers", "40", "--days", "5", "--start", "2024-01-01",
          "--seed", "3", "--home", str(home.root)])  # fmt: skip
    out = capsys.readouterr().out
    assert "ChurnGenerationSummary" in out
    assert "truth" not in out  # the per-account ground truth is for tests, not the terminal
    first = date(2024, 1, 1)
    assert churn_landing.subscriptions_file(home, first).exists()
    root = churn_landing.landing_root(home)
    for source in (churn_landing.SUBSCRIPTIONS, churn_landing.USAGE, churn_landing.TICKETS):
        assert len(list((root / source).glob("*"))) == 5


def test_import_activity_from_the_command_line(home, tmp_path, capsys):
    log = tmp_path / "orders.csv"
    pl.DataFrame(
        {"shopper": ["u1", "u2"], "ts": ["1709633472", "2024-03-07"], "sku": ["A", "login"],
         "eur": ["9.5", ""]}
    ).write_csv(log)  # fmt: skip
    main(["import", "activity", "--file", str(log), "--customer-col", "shopper", "--time-col",
          "ts", "--event-col", "sku", "--amount-col", "eur", "--home", str(home.root)])  # fmt: skip
    assert "ActivityImportSummary" in capsys.readouterr().out
    rows = pl.read_ndjson(churn_landing.usage_file(home, date(2024, 3, 5)))
    assert rows.select("user_id", "event_name", "feature_name", "amount").rows() == [
        ("u1", "activity", "A", 9.5)
    ]
    assert churn_landing.usage_file(home, date(2024, 3, 6)).read_text() == ""
    with pytest.raises(ValueError, match="missing column"):
        main(["import", "activity", "--file", str(log), "--customer-col", "user",
              "--time-col", "ts", "--home", str(home.root)])  # fmt: skip
