"""The failure drills: every story of DOMAIN.md is caught by what it should be caught by, and
no forecast or order is built from the faulty input. A base per shape is prepared once for the
module (training is most of a drill's cost); each drill plays on its own copy of one. Beside
them, the control that makes the drift and decay drills mean something, and guards for two
gaps the drills found."""

from datetime import timedelta
from pathlib import Path

import pytest
from dagster_duckdb import DuckDBResource

from intel_platform.cli import main
from intel_platform.core.home import HOME_ENV_VAR
from intel_platform.demand import drills
from intel_platform.demand.scenarios import NEW_ITEMS, SCENARIOS, DrillResult, fresh_root, play

CAUGHT_BY = {
    "rename": "contract alias",
    "unknown-column": "raw ingestion contract",
    "weekend-drop": "sales_completeness",
    "new-category": "products_quarantined",
    "late-store": "landing sensor",
    "drift": "feature_drift -> demand_retrain_sensor -> gate",
    "decay": "forecast_accuracy -> demand_retrain_sensor -> gate",
}
CUT = drills.MODEL.cut


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """``bases(shape)``: one prepared base per shape for the module, made on first use."""
    made: dict[str, drills.Base] = {}

    def _base(shape: drills.Shape) -> drills.Base:
        if shape.name not in made:
            root = tmp_path_factory.mktemp(f"base-{shape.name}") / "home"
            made[shape.name] = drills.prepare_base(root, shape)
        return made[shape.name]

    return _base


@pytest.fixture(scope="module")
def played(bases, tmp_path_factory):
    """``played(name)``: the drill's result and home, each drill played once per module on a
    copy of the smallest base its story needs (``scenario all`` plays all on the model base)."""
    root = tmp_path_factory.mktemp("drills")
    results: dict[str, tuple[DrillResult, Path]] = {}

    def _played(name: str) -> tuple[DrillResult, Path]:
        if name not in results:
            base = bases(SCENARIOS[name][0])
            results[name] = (play(name, root / name, base), root / name)
        return results[name]

    return _played


def _query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    """With the resource's connection config: DuckDB refuses a second config in one process."""
    with DuckDBResource(database=str(home / "warehouse.duckdb")).get_connection() as conn:
        return conn.execute(sql, params or []).fetchall()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_drill_is_caught_and_nothing_is_built_from_the_fault(played, name):
    result, _ = played(name)
    assert result.detected, result.detail
    assert CAUGHT_BY[name] in result.caught_by
    assert (result.bad_rows_in_forecasts, result.bad_rows_in_decisions) == (0, 0), result.detail
    assert 0 <= result.detection_seconds < 120


def _run_alert(home: Path) -> str:
    sql = (
        "SELECT reason FROM platform_monitoring.alerts WHERE kind = 'run_failure' "
        "AND asset = 'demand/raw/pos_sales'"
    )
    return _query(home, sql)[0][0]


def test_clean_days_ask_for_no_retraining(bases, tmp_path):
    """The control of the drift and decay drills: the same fourteen days, delivered as they
    are, must leave monitoring quiet, or those drills would prove nothing."""
    base = bases(drills.MODEL)
    home = drills.relocate(base, tmp_path / "control")
    with drills.pinned_env(home):
        drill = drills.Drill(home, base)
        for offset in range(1, base.shape.held + 1):
            drill.land(drill.day(offset))
        assert len(drill.ingest().run_requests) == base.shape.held
        drill.automate(drill.day(base.shape.held))
        assert drill.tick(drills.RETRAIN_SENSOR).run_requests == []


def test_unknown_column_reaches_nothing_and_pages_naming_the_column(played):
    _, home = played("unknown-column")
    day = drills.SMALL.cut + timedelta(days=1)
    sql = "SELECT count(*) FROM demand_harmonized.sales WHERE date = ?"
    assert _query(home, sql, [day]) == [(0,)]
    assert "unknown columns ['cost_amount']" in _run_alert(home)


def test_unknown_column_alert_names_the_file(played):
    """Found by this drill: the alert once kept only 'csv' of the path, read as a module path."""
    _, home = played("unknown-column")
    assert f"pos_sales/{drills.SMALL.cut + timedelta(days=1)}/S01.csv" in _run_alert(home)


def test_weekend_drop_keeps_forecasts_on_the_last_complete_day(played):
    _, home = played("weekend-drop")
    assert _query(home, "SELECT DISTINCT data_as_of FROM demand_forecasts.store_item_daily") == [
        (CUT,)
    ]
    alerts = _query(home, 'SELECT "partition" FROM platform_monitoring.alerts WHERE check_name '
                          "= 'sales_completeness' ORDER BY 1")  # fmt: skip
    weekend = [CUT + timedelta(days=1), CUT + timedelta(days=2)]
    assert alerts == [(day.isoformat(),) for day in weekend]


def test_new_category_items_are_forecast_from_the_level_above_never_zero(played):
    _, home = played("new-category")
    sql = (
        "SELECT min(p50), count(*), count(*) FILTER (fallback = 'none') "
        "FROM demand_forecasts.store_item_daily WHERE item_id IN ?"
    )
    lowest, rows, established = _query(home, sql, [list(NEW_ITEMS)])[0]
    assert lowest > 0 and established == 0
    assert rows == len(NEW_ITEMS) * drills.MODEL.stores * drills.HORIZON


def test_new_category_items_get_orders_once_mapped(played):
    """Found by this drill: the forecast's data version ignored new series, so replenishment,
    which follows data versions, did not re-run after the mapping fix."""
    _, home = played("new-category")
    sql = "SELECT count(*) FROM demand_decisions.replenishment WHERE item_id IN ?"
    assert _query(home, sql, [list(NEW_ITEMS)]) == [(len(NEW_ITEMS) * drills.MODEL.stores,)]


def test_late_store_pages_stale_raw_sales_and_names_the_store(played):
    result, home = played("late-store")
    sql = (
        "SELECT severity, reason FROM platform_monitoring.alerts WHERE kind = 'freshness' "
        "AND asset = 'demand/raw/pos_sales'"
    )
    ((severity, reason),) = _query(home, sql)
    assert severity == "ERROR" and "last materialized 26.0 h ago" in reason
    assert f"{drills.SMALL.cut + timedelta(days=1)} waits for S02" in result.detail


def test_cli_plays_one_drill_into_a_fresh_home_and_prints_the_table(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["scenario", "rename", "--home", str(tmp_path / "drill")])
    out = capsys.readouterr().out
    assert done.value.code == 0, out
    header, _, row = out.splitlines()[:3]
    assert header.split() == "drill caught by detected seconds bad forecasts bad decisions".split()
    cells = row.split()
    assert cells[0] == "rename" and "yes" in cells and cells[-2:] == ["0", "0"]


def test_default_scratch_folder_is_reused_but_a_foreign_one_is_not(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME_ENV_VAR, str(tmp_path))
    scratch = fresh_root("rename", None)
    (scratch / "left_over.csv").write_text("from the last drill")
    assert fresh_root("rename", None) == scratch and not (scratch / "left_over.csv").exists()
    foreign = tmp_path / "drills" / "drift"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not a drill's scratch folder"):
        fresh_root("drift", None)


def test_cli_refuses_a_home_that_is_not_empty(tmp_path):
    (tmp_path / "warehouse.duckdb").write_text("someone's data")
    with pytest.raises(SystemExit, match="not empty"):
        main(["scenario", "rename", "--home", str(tmp_path)])
    assert (tmp_path / "warehouse.duckdb").read_text() == "someone's data"
