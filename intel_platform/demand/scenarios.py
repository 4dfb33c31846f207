"""Failure drills: each story of DOMAIN.md played against the real demand location.

A drill copies a prepared home (``drills.py``), breaks the files a source is about to deliver,
lets the sensors, runs and automation do what they do, and reports who caught the fault, how
fast, and how many forecast and replenishment rows were built from the faulty input: the
number that must be 0. ``intel-platform scenario NAME`` plays one, ``... scenario all`` plays
all seven and prints the table.

*Bad rows* are defined per story (each drill's docstring). ``detection_seconds`` is the wall
time from the first write of the fault to the check or sensor that names it.
"""

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from intel_platform.core.alerts import ALERTS_TABLE
from intel_platform.core.home import ProjectHome
from intel_platform.core.registry import champion, mlflow_target
from intel_platform.core.runs import check_results, failed_steps
from intel_platform.demand import drills, landing
from intel_platform.demand.drills import Drill
from intel_platform.demand.monitoring import ACCURACY_KEY, DRIFT_KEY

__all__ = ["SCENARIOS", "DrillResult", "format_table", "play", "play_all", "run_cli"]

FORECASTS, DECISIONS = "demand_forecasts.store_item_daily", "demand_decisions.replenishment"
FEATURES = "demand_features.store_item_day"
POS_KEY = dg.AssetKey(["demand", "raw", "pos_sales"])
LIGHTGBM_KEY = dg.AssetKey(["demand", "models", "lightgbm"])
SCRATCH_MARKER = ".intel-drill-scratch"


@dataclass(frozen=True)
class DrillResult:
    """What a drill reports: who caught the fault, whether and how fast, what leaked."""

    name: str
    caught_by: str
    detected: bool
    detection_seconds: float
    bad_rows_in_forecasts: int
    bad_rows_in_decisions: int
    detail: str

    @property
    def passed(self) -> bool:
        return self.detected and self.bad_rows_in_forecasts == self.bad_rows_in_decisions == 0


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {check.check_name: check for check in check_results(result)}


def _failed(drill: Drill, check: str) -> list[dg.ExecuteInProcessResult]:
    """The drill's runs in which ``check`` was evaluated and did not pass."""
    return [r for r in drill.runs if check in (c := _checks(r)) and not c[check].passed]


def _bad(drill: Drill, where: str, params: list) -> tuple[int, int]:
    """Rows of the forecast and of the replenishment table matching ``where`` (alias ``t``)."""
    sql = "SELECT count(*) FROM {} t WHERE " + where
    return drill.count(sql.format(FORECASTS), params), drill.count(sql.format(DECISIONS), params)


def _as_of(drill: Drill) -> str:
    as_of = drill.value(f"SELECT max(data_as_of) FROM {FORECASTS}")
    return str(as_of) if as_of else "none (no model in this home)"


# --- 1. the silent rename ---------------------------------------------------------------------


def silent_rename(drill: Drill) -> DrillResult:
    """Every POS file of a day says ``price_per_unit`` instead of ``unit_price``. Bad rows:
    rows issued from that day (``data_as_of`` >= it) for a series that sold that day with a
    null price in the features (the price the rename would have lost)."""
    day = drill.day(1)
    started = time.perf_counter()
    for path in drill.held_pos(day):
        drills.rewrite_csv(path, lambda f: f.rename({"unit_price": "price_per_unit"}))
    drill.land(day)
    drill.ingest()
    run, seconds = drill.runs[-1], time.perf_counter() - started
    null_rate = _checks(run).get("sales_price_null_rate")
    priced, rows = drill.query(
        "SELECT count(price_per_unit), count(*) FROM demand_harmonized.sales "
        "WHERE date = ? AND source = 'pos'", [day]).row(0)  # fmt: skip
    drill.automate(day)
    lost = (
        f"t.data_as_of >= ? AND (t.store_id, t.item_id) IN (SELECT (store_id, item_id) FROM "
        f"{FEATURES} WHERE date = ? AND units IS NOT NULL AND price_per_unit IS NULL)"
    )
    passed = bool(null_rate and null_rate.passed)
    detail = (f"{day}: {priced}/{rows} POS rows priced after the rename, sales_price_null_rate "
              f"{'passed' if passed else 'FAILED'}; forecasts as of {_as_of(drill)}")  # fmt: skip
    return DrillResult("rename", "contract alias (SALES.price_per_unit)",
                       run.success and passed and priced == rows > 0, seconds,
                       *_bad(drill, lost, [day, day]), detail)  # fmt: skip


def unknown_column(drill: Drill) -> DrillResult:
    """One POS file renames ``unit_price`` to ``cost_amount``, a name no alias knows. Bad
    rows: rows issued from that day (``data_as_of`` >= it)."""
    day = drill.day(1)
    started = time.perf_counter()
    broken = drill.held_pos(day)[0]
    drills.rewrite_csv(broken, lambda f: f.rename({"unit_price": "cost_amount"}))
    drill.land(day)
    drill.ingest()
    message = failed_steps(drill.runs[-1]).get("demand__raw__pos_sales", "")
    alerts = drill.alerts().filter(pl.col("asset") == POS_KEY.to_user_string())
    seconds = time.perf_counter() - started
    root = landing.landing_root(drill.home)
    named = (root / landing.POS_SALES / day.isoformat() / broken.name).relative_to(root)
    drill.automate(day)
    reached = [drill.count(f"SELECT count(*) FROM {table} WHERE date = ? AND units IS NOT NULL",
                           [day]) for table in ("demand_harmonized.sales", FEATURES)]  # fmt: skip
    said = message.replace(f"{root}/", "").split(": ", 1)[-1][:150]
    paged = [reason.replace(f"{root}/", "")[:60] for reason in alerts["reason"]]
    detail = (f"raw run failed: {said}; run alert: {paged[0] if paged else 'none'}; rows of "
              f"{day} in harmonized / features: {reached[0]} / {reached[1]}")  # fmt: skip
    detected = named.as_posix() in message and "cost_amount" in message and bool(paged)
    return DrillResult("unknown-column", "raw ingestion contract + run failure alert", detected,
                       seconds, *_bad(drill, "t.data_as_of >= ?", [day]), detail)  # fmt: skip


# --- 2. the weekend drop ----------------------------------------------------------------------


def weekend_drop(drill: Drill) -> DrillResult:
    """A batch bug drops Saturday and Sunday of 15 % of the store-items. Bad rows: rows issued
    from data that includes the broken weekend (``data_as_of`` >= Saturday)."""
    weekend = [drill.day(1), drill.day(2)]
    in_features = f"SELECT count(*) FROM {FEATURES} WHERE date IN ? AND units IS NOT NULL"
    before = drill.count(in_features, [weekend])
    started = time.perf_counter()
    dropped = drills.drop_store_items([drill.held_pos(day) for day in weekend], share=0.15)
    for day in weekend:
        drill.land(day)
    drill.ingest()
    failed = _failed(drill, "sales_completeness")
    alerts = drill.alerts().filter(pl.col("check_name") == "sales_completeness")
    seconds = time.perf_counter() - started
    launched = drill.automate(weekend[-1])
    after = drill.count(in_features, [weekend])
    detail = (f"{dropped} store-items lost {weekend[0]}..{weekend[1]}; sales_completeness failed "
              f"in {len(failed)} runs, alerts for {alerts['partition'].to_list()}; weekend rows "
              f"in features before / after: {before} / {after}; automation then ran "
              f"{launched or 'nothing'}; forecasts as of {_as_of(drill)}")  # fmt: skip
    detected = len(failed) == len(weekend) and alerts.height > 0 and after == before
    bad = _bad(drill, "t.data_as_of >= ?", [weekend[0]])
    caught = "sales_completeness (blocking) + check alert"
    return DrillResult("weekend-drop", caught, detected, seconds, *bad, detail)


# --- 3. the new category ----------------------------------------------------------------------

NEW_ITEMS = {"I09001": "I00002", "I09002": "I00003"}  # new item -> item whose demand it copies
NEW_SPELLING, NEW_CATEGORY, NEW_PRICE = "PETCARE", "Pet Care", "8.49"


def _launch(drill: Drill, days: list[date]) -> None:
    """The catalog gains two items of a category spelled as nobody mapped yet, launching on
    the first day; their POS rows start that day."""
    rows = pl.DataFrame({"item_id": list(NEW_ITEMS), "item_name": ["Pet food", "Pet toy"],
                         "category": NEW_SPELLING, "department": "Pets",
                         "launch_date": days[0].isoformat(), "base_price": NEW_PRICE})  # fmt: skip
    drills.rewrite_csv(
        landing.products_file(drill.home), lambda f: pl.concat([f, rows.select(f.columns)])
    )
    for path in (path for day in days for path in drill.held_pos(day)):
        drills.rewrite_csv(path, lambda f: drills.copy_items(f, NEW_ITEMS, NEW_PRICE))


def _new_items(drill: Drill) -> list[int]:
    """Forecast rows of the new items and the bad ones (null, zero, or as if established);
    their orders and the bad ones (no demand behind them)."""
    bad_forecast = "p50 IS NULL OR p50 <= 0 OR fallback = 'none'"
    counts = [(FORECASTS, "true"), (FORECASTS, bad_forecast), (DECISIONS, "true"),
              (DECISIONS, "NOT demand > 0")]  # fmt: skip
    sql = "SELECT count(*) FROM {} WHERE item_id IN ? AND ({})"
    return [drill.count(sql.format(*count), [list(NEW_ITEMS)]) for count in counts]


def new_category(drill: Drill) -> DrillResult:
    """A category launches under a new spelling. Bad rows: new-item forecasts that are null,
    zero or treated as established (``fallback = 'none'``), before or after the mapping is
    added; new-item orders with no demand behind them."""
    days = [drill.day(offset) for offset in range(1, 8)]
    started = time.perf_counter()
    _launch(drill, days)
    for day in days:
        drill.land(day)
    drill.ingest()
    warned = _failed(drill, "products_quarantined")
    alerts = drill.alerts().filter(pl.col("check_name") == "products_quarantined")
    seconds = time.perf_counter() - started
    drill.automate(days[-1])
    held = _new_items(drill)
    (drill.home.mappings / "category_aliases.csv").write_text(
        f"alias,category\n{NEW_SPELLING.lower()},{NEW_CATEGORY}\n")  # fmt: skip
    drill.operate("group:demand_harmonized", days[0], days[-1])  # the check's what_to_do
    drill.automate(days[-1])
    after = _new_items(drill)
    fallbacks = drill.query(f"SELECT DISTINCT fallback FROM {FORECASTS} WHERE item_id IN ?",
                            [list(NEW_ITEMS)])["fallback"].to_list()  # fmt: skip
    detail = (
        f"products_quarantined WARN in {len(warned)} runs, {alerts.height} alert rows; new-item "
        f"forecast rows before the mapping {held[0]}, after {after[0]} (fallback "
        f"{', '.join(fallbacks)}); new-item orders after the mapping: {after[2]}"
    )
    detected = len(warned) == len(days) and alerts.height > 0 and after[0] > 0
    caught = "products_quarantined (WARN) + cold-start fallback"
    bad = held[1] + after[1], held[3] + after[3]
    return DrillResult("new-category", caught, detected, seconds, *bad, detail)


# --- 4. the late store ------------------------------------------------------------------------

LATE_STORE = "S02"


def _feature_day(drill: Drill, day: date) -> pl.DataFrame:
    return drill.query(f"SELECT * FROM {FEATURES} WHERE date = ? ORDER BY ALL", [day])


def late_store(drill: Drill) -> DrillResult:
    """One store's file of the newest day is late. Bad rows: rows issued while the day was
    incomplete (``data_as_of`` >= it before the file landed), plus archived forecasts from a
    feature row of that day that training later saw differently."""
    day = drill.day(1)
    started = time.perf_counter()
    drill.land(day, except_stores=(LATE_STORE,))
    waiting = drill.ingest()
    seconds = time.perf_counter() - started
    held = not waiting.run_requests and f"{day} waits for {LATE_STORE}" in waiting.skip_message
    drill.automate(day)
    early = _bad(drill, "t.data_as_of >= ?", [day])
    window = drill.defs.resolve_asset_graph().get(POS_KEY).freshness_policy.fail_window
    newest = drill.instance.get_latest_materialization_event(POS_KEY).timestamp
    at = datetime.fromtimestamp(newest, UTC) + window.to_timedelta() + timedelta(minutes=1)
    stale = drill.stale(POS_KEY, at) and not drill.ingest().run_requests  # nothing came
    hours = (at - datetime.fromtimestamp(newest, UTC)).total_seconds() / 3600
    paged = drill.tick_freshness(at).skip_message
    alerted = drill.count(f"SELECT count(*) FROM {ALERTS_TABLE} WHERE kind = 'freshness' AND "
                          f"asset = '{POS_KEY.to_user_string()}'")  # fmt: skip
    drill.land(day)
    landed = [request.partition_key for request in drill.ingest().run_requests]
    once = landed == [day.isoformat()] and not drill.ingest().run_requests
    fresh = not drill.stale(POS_KEY, datetime.now(UTC))
    drill.automate(day)
    serving = _feature_day(drill, day)
    drill.land(drill.day(2))
    drill.ingest()
    drill.automate(drill.day(2))
    changed = serving.join(_feature_day(drill, day), on=serving.columns, how="anti",
                           nulls_equal=True)  # fmt: skip
    served = changed.height and drill.count(
        "SELECT count(*) FROM demand_forecasts.store_item_daily_history WHERE data_as_of = ? "
        "AND list_contains(?, store_id || '/' || item_id)",
        [day, (changed["store_id"] + "/" + changed["item_id"]).to_list()],
    )  # fmt: skip
    detail = (f"sensor: {waiting.skip_message} Clock moved {hours:.0f} h on: "
              f"pos_sales stale, demand_freshness_alerts: {paged}, pos_sales alert rows "
              f"{alerted}; late file landed: runs {landed}, fresh again {fresh}; feature rows "
              f"of {day} changed between serving and training: {changed.height} of "
              f"{serving.height}")  # fmt: skip
    return DrillResult("late-store", "landing sensor (complete days) + freshness alerts",
                       held and stale and alerted > 0 and once and fresh, seconds,
                       early[0] + served, early[1], detail)  # fmt: skip


# --- 5. the slow drift, and decay ------------------------------------------------------------


def _retrain_loop(
    drill: Drill, name: str, change: Callable[[pl.DataFrame], pl.DataFrame], key: dg.AssetKey
) -> DrillResult:
    """The held days land changed; automation re-evaluates monitoring; the retrain sensor asks
    for one run, which goes through the gate. Bad rows: rows on the tables afterwards not
    issued by the gate's champion on the newest day (a model nobody re-examined)."""
    days = [drill.day(offset) for offset in range(1, drill.base.shape.held + 1)]
    started = time.perf_counter()
    for day in days:
        for path in drill.held_pos(day):
            drills.rewrite_csv(path, change)
        drill.land(day)
    drill.ingest()
    drill.automate(days[-1])
    verdict, requests = drill.metadata(key), drill.tick(drills.RETRAIN_SENSOR).run_requests
    seconds = time.perf_counter() - started
    reason = requests[0].tags.get("retrain_reason") if len(requests) == 1 else None
    tags: dict[str, str] = {}
    if reason:
        drill.execute(requests[0], drills.RETRAIN_SENSOR, days[-1])
        tags = drill.version_tags(str(drill.metadata(LIGHTGBM_KEY)["model_version"]))
    repeated = len(drill.tick(drills.RETRAIN_SENSOR).run_requests)
    serving = champion(mlflow_target("demand", drill.home), "demand_lightgbm")
    stale = "t.model_version <> ? OR t.data_as_of < ?"
    detail = (f"{key.path[-1]}: {verdict.get('retrain_detail') or verdict.get('status')}; "
              f"retrain requests {len(requests)} (reason {reason}), next tick {repeated}; new "
              f"version retrain_reason={tags.get('retrain_reason')}, promoted="
              f"{tags.get('gate.promoted')} ({tags.get('gate.reason')})")  # fmt: skip
    detected = reason == name == tags.get("retrain_reason") and "gate.promoted" in tags
    return DrillResult(name, f"{key.path[-1]} -> demand_retrain_sensor -> gate", detected,
                       seconds, *_bad(drill, stale, [serving.version if serving else "",
                                                     days[-1]]), detail)  # fmt: skip


def drift(drill: Drill) -> DrillResult:
    """Prices shift in every new day; ``feature_drift`` must ask for the retraining."""
    return _retrain_loop(drill, "drift", drills.inflation, DRIFT_KEY)


def decay(drill: Drill) -> DrillResult:
    """Actuals move away from the archived forecasts while every feature's distribution
    stays: only ``forecast_accuracy`` can see it, and must ask."""
    return _retrain_loop(drill, "decay", drills.demand_moves, ACCURACY_KEY)


# --- running them ------------------------------------------------------------------------------


# name -> (the smallest base the story needs, the drill that plays it)
SCENARIOS: dict[str, tuple[drills.Shape, Callable[[Drill], DrillResult]]] = {
    "rename": (drills.SMALL, silent_rename),
    "unknown-column": (drills.SMALL, unknown_column),
    "weekend-drop": (drills.MODEL, weekend_drop),
    "new-category": (drills.MODEL, new_category),
    "late-store": (drills.SMALL, late_store),
    "drift": (drills.MODEL, drift),
    "decay": (drills.MODEL, decay),
}


def play(name: str, root: Path, base: drills.Base) -> DrillResult:
    """One drill on a copy of ``base`` at ``root``. A drill that crashes reports as not
    detected, with its error: in ``all`` one broken story must not hide the others."""
    home = drills.relocate(base, root)
    try:
        with drills.pinned_env(home):
            return SCENARIOS[name][1](Drill(home, base))
    except Exception as error:  # noqa: BLE001 (reported in the table, not swallowed)
        return DrillResult(name, "-", False, math.nan, -1, -1, f"drill crashed: {error!r}")


def play_all(root: Path, names: list[str] | None = None) -> list[DrillResult]:
    """Every drill on one model base (it holds everything the small drills need)."""
    base = drills.prepare_base(root / "_base", drills.MODEL)
    return [play(name, root / name, base) for name in names or SCENARIOS]


def format_table(results: list[DrillResult]) -> str:
    """The drill table, then one line of detail per drill."""
    head = ("drill", "caught by", "detected", "seconds", "bad forecasts", "bad decisions")
    rows = [head] + [
        (r.name, r.caught_by, "yes" if r.detected else "NO", f"{r.detection_seconds:.1f}",
         str(r.bad_rows_in_forecasts), str(r.bad_rows_in_decisions)) for r in results
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join([*lines, "", *(f"{r.name}: {r.detail}" for r in results)])


def fresh_root(name: str, home: str | Path | None) -> Path:
    """``home`` must be empty: a drill needs a fresh home. Without it the drill plays in
    ``<project home>/drills/<name>``, a scratch folder it marks as its own and may wipe."""
    if home is not None:
        root = Path(home).expanduser().resolve()
        if root.exists() and any(root.iterdir()):
            raise SystemExit(f"{root} is not empty: a drill needs a fresh home.")
    else:
        root = ProjectHome.resolve().root / "drills" / name
        if root.exists() and any(root.iterdir()) and not (root / SCRATCH_MARKER).exists():
            raise SystemExit(f"{root} is not empty and not a drill's scratch folder.")
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        (root / SCRATCH_MARKER).touch()
    root.mkdir(parents=True, exist_ok=True)
    return root


def run_cli(name: str, home: str | Path | None = None) -> tuple[str, bool]:
    """``intel-platform scenario NAME``: the table, and whether every drill passed."""
    if name != "all" and name not in SCENARIOS:
        raise SystemExit(f"unknown drill {name!r}; one of: all, {', '.join(SCENARIOS)}")
    root = fresh_root(name, home)
    if name == "all":
        results = play_all(root)
    else:
        results = [play(name, root / name, drills.prepare_base(root / "_base", SCENARIOS[name][0]))]
    return f"{format_table(results)}\n\nhomes: {root}", all(r.passed for r in results)
