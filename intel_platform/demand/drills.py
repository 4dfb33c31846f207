"""The harness the failure drills (``scenarios.py``) run on: a prepared home, the faults a
source can deliver, and the demand location's own sensors, runs and automation, one tick at a
time.

Why a harness: a drill must show what the platform does by itself, so nothing here decides
anything. It lands files, ticks the location's sensors with ``evaluate_tick``, launches their
``RunRequest``s through ``core.runs.materialize_days`` and asks
``dg.evaluate_automation_conditions`` what the daemon would launch next.

Invariants: a *base* (generated history, backfilled, champion trained) is prepared once and
copied per drill, as training takes most of a drill's time; a drill's Dagster instance lives in
memory and starts with the base's runs (``DagsterInstance.ephemeral(preload=...)``), so
automation knows what the base materialized; the days after the base's cut are *held back*
beside the landing zone, for a drill to break and deliver; the environment is pinned (local
resources, no MLflow server, no webhook, logs muted): a drill never touches real systems.
"""

import gc
import logging
import os
import random
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
from dagster._core.debug import DebugRunPayload  # the type ``ephemeral(preload=)`` takes

from intel_platform.core.alerts import ALERTS_TABLE, WEBHOOK_ENV
from intel_platform.core.freshness import build_freshness_alert_sensor, stale_alerts
from intel_platform.core.home import HOME_ENV_VAR, ProjectHome
from intel_platform.core.landing import publish
from intel_platform.core.registry import TRACKING_URI_ENV, mlflow_target
from intel_platform.core.resources import ENV_VAR
from intel_platform.core.runs import failed_steps, materialize_days
from intel_platform.demand import landing
from intel_platform.demand.definitions import FOLLOWS
from intel_platform.demand.definitions import defs as demand_defs
from intel_platform.demand.generate import generate_demand

HORIZON = 14
_MODEL = {"window_days": 120, "num_boost_round": 80, "backtest_windows": 2, "horizon": HORIZON}
# Small model settings (as in the tests): a drill is about the loop, not about model quality.
SMALL_MODELS: dict[str, dict[str, Any]] = {
    "demand__models__backtest": {**_MODEL, "prophet_workers": 1},
    "demand__models__lightgbm": {**_MODEL, "retrain_reason": "new_data"},
    "demand__models__prophet": _MODEL,
    "demand__forecasts__store_item_daily": {"horizon": HORIZON},
}
FOUNDATION = 'group:demand_raw or group:demand_harmonized or key:"demand/features/store_item_day"'
HELD_BACK = "held_back"
LANDING_SENSOR, RETRAIN_SENSOR = "demand_landing_sensor", "demand_retrain_sensor"
CHECK_ALERTS, RUN_ALERTS = "demand_check_failure_alerts", "demand_run_failure_alerts"
FRESHNESS_ALERTS = "demand_freshness_alerts"


@dataclass(frozen=True)
class Shape:
    """What a base holds: ``days`` generated from ``start``, the last ``held`` held back."""

    name: str
    days: int
    held: int
    start: date
    seed: int
    model: bool
    stores: int = 3
    items: int = 30

    @property
    def cut(self) -> date:
        """The last day the base ingested; the drills deliver the days after it."""
        return self.start + timedelta(days=self.days - self.held - 1)


# 14 days, no model: enough for the ingestion stories. 500 days up to the cut (a Friday, so a
# weekend lands next) and a champion for the others. Dates, seed and the 120-day training
# window are such that 14 days landing WITHOUT a fault ask for no retraining (the control test;
# when written: max PSI 0.29, units_lag_364 as store S03 reaches its first anniversary, WAPE
# -2 % and bias +1 % against the backtest). On other cuts the +-5 % bias bound fired with no
# fault at all on a toy this small (measured -17 % .. +8 %).
SMALL = Shape("small", days=14, held=2, start=date(2024, 3, 4), seed=11, model=False)
MODEL = Shape("model", days=514, held=14, start=date(2023, 1, 25), seed=7, model=True)


@dataclass(frozen=True)
class Base:
    """A prepared home: its folder, the runs its instance holds, the landing sensor's cursor."""

    root: Path
    shape: Shape
    payloads: list[DebugRunPayload]
    landing_cursor: str | None


@contextmanager
def pinned_env(home: ProjectHome) -> Iterator[None]:
    """Local resources on ``home``, no MLflow server, no webhook (a drill must not write to a
    shared registry or page on-call); logs below CRITICAL muted, as the failures a drill causes
    are expected and its table reports them (sensor loggers ignore the logger hierarchy)."""
    pinned = {HOME_ENV_VAR: str(home.root), ENV_VAR: "local", TRACKING_URI_ENV: None,
              WEBHOOK_ENV: None}  # fmt: skip
    saved = {name: os.environ.get(name) for name in pinned}
    muted = logging.root.manager.disable
    try:
        for name, value in pinned.items():
            _set_env(name, value)
        logging.disable(logging.ERROR)
        yield
    finally:
        for name, value in saved.items():
            _set_env(name, value)
        logging.disable(muted)


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _held(home: ProjectHome, path: Path) -> Path:
    return home.root / HELD_BACK / path.relative_to(home.landing)


def _day_paths(home: ProjectHome, day: date) -> list[Path]:
    pos = landing.pos_file(home, day, "x").parent
    return [pos, landing.ecom_file(home, day), landing.inventory_file(home, day)]


def prepare_base(root: Path, shape: Shape) -> Base:
    """Generate, hold back the last days, backfill the history up to the cut in one run (as
    ``intel-platform materialize`` would) and take over the landing sensor's first cursor."""
    home = ProjectHome(root).ensure()
    with pinned_env(home):
        generate_demand(home, stores=shape.stores, items=shape.items, days=shape.days,
                        start=shape.start, seed=shape.seed)  # fmt: skip
        for offset in range(1, shape.held + 1):
            for path in _day_paths(home, shape.cut + timedelta(days=offset)):
                _held(home, path).parent.mkdir(parents=True, exist_ok=True)
                path.rename(_held(home, path))
        defs, instance = demand_defs(), dg.DagsterInstance.ephemeral()
        tick = defs.resolve_sensor_def(LANDING_SENSOR).evaluate_tick(dg.build_sensor_context(
            instance=instance, definitions=defs, resources=dict(defs.resources or {})))  # fmt: skip
        selection = None if shape.model else FOUNDATION
        result = materialize_days(defs, instance, shape.start, shape.cut, selection=selection,
                                  run_config=run_config(defs, selection))  # fmt: skip
        if failed := failed_steps(result):
            raise RuntimeError(f"base {shape.name} did not materialize: {failed}")
    payloads = [DebugRunPayload.build(instance, run) for run in reversed(instance.get_runs())]
    return Base(root, shape, payloads, tick.cursor)


def relocate(base: Base, root: Path) -> ProjectHome:
    """Copy the base to ``root`` and repoint what holds absolute paths: MLflow's SQLite store
    (artifact locations) and DuckDB views over Parquet parts. Without it a drill would load and
    write models in the base's folder."""
    shutil.copytree(base.root, root)
    old, new = str(base.root), str(root)
    if (store := root / "mlflow" / "mlflow.db").exists():
        with closing(sqlite3.connect(store)) as conn, conn:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            for (table,) in tables.fetchall():
                for column in conn.execute(f'PRAGMA table_info("{table}")').fetchall():
                    if "CHAR" in column[2].upper() or column[2].upper() == "TEXT":
                        conn.execute(f'UPDATE "{table}" SET "{column[1]}" = replace('
                                     f'"{column[1]}", ?, ?)', [old, new])  # fmt: skip
    with duckdb.connect(str(root / "warehouse.duckdb")) as conn:
        views = conn.execute(
            "SELECT sql FROM duckdb_views() WHERE NOT internal AND sql LIKE ?", [f"%{old}%"]
        ).fetchall()
        for (sql,) in views:
            conn.execute(sql.replace(old, new).replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1))
    return ProjectHome(root)


def run_config(defs: dg.Definitions, selection: str | None, extra: dict | None = None) -> dict:
    """The small model settings of the selected ops, with ``extra`` (a request's) on top."""
    graph = defs.resolve_asset_graph()
    keys = (dg.AssetSelection.from_string(selection).resolve(graph) if selection
            else graph.get_all_asset_keys())  # fmt: skip
    names = {"__".join(key.path) for key in keys}
    ops = {op: {"config": dict(cfg)} for op, cfg in SMALL_MODELS.items() if op in names}
    for op, entry in ((extra or {}).get("ops") or {}).items():
        ops.setdefault(op, {"config": {}})["config"].update(entry.get("config", {}))
    return {**(extra or {}), "ops": ops}


def selection_of(keys: list[dg.AssetKey]) -> str:
    """A request's assets in the UI's selection syntax, e.g. ``key:"a/b/c" or key:"..."``."""
    return " or ".join(f'key:"{key.to_user_string()}"' for key in keys)


@dataclass
class Drill:
    """One drill's platform: its home, the location's definitions, an in-memory instance that
    starts with the base's runs, the sensors' cursors and every run the drill launched."""

    home: ProjectHome
    base: Base
    defs: dg.Definitions = field(init=False)
    instance: dg.DagsterInstance = field(init=False)
    cursors: dict[str, str | None] = field(default_factory=dict)
    automation: Any = None
    runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Where the daemon stood before the fault: every sensor and automation has ticked."""
        self.defs = demand_defs()
        self.instance = dg.DagsterInstance.ephemeral(preload=self.base.payloads)
        self.cursors[LANDING_SENSOR] = self.base.landing_cursor
        for name in (RETRAIN_SENSOR, CHECK_ALERTS, RUN_ALERTS, FRESHNESS_ALERTS):
            self.tick(name)
        self.automation = dg.evaluate_automation_conditions(
            defs=self.defs, instance=self.instance, asset_selection=FOLLOWS
        ).cursor
        if self.tick(LANDING_SENSOR).run_requests:
            raise RuntimeError("the base's landing zone was not fully ingested")

    def day(self, offset: int) -> date:
        """``offset`` days after the base's cut: 1 is the next day to land."""
        return self.base.shape.cut + timedelta(days=offset)

    def held_pos(self, day: date) -> list[Path]:
        """POS files of a day not delivered yet: where a drill injects its fault."""
        return sorted(_held(self.home, landing.pos_file(self.home, day, "x")).parent.glob("*.csv"))

    def land(self, day: date, *, except_stores: tuple[str, ...] = ()) -> None:
        """Deliver a held-back day the way sources do (``.part`` then rename)."""
        for path in _day_paths(self.home, day):
            held = _held(self.home, path)
            files = sorted(held.glob("*.csv")) if held.is_dir() else [held]
            for file in files:
                if file.exists() and file.stem not in except_stores:
                    publish(path / file.name if held.is_dir() else path, file.rename)

    def tick(self, name: str, sensor: dg.SensorDefinition | None = None) -> Any:
        """One evaluation of a location sensor (or of ``sensor`` in its place) with its
        cursor, as the daemon runs it."""
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursors.get(name), definitions=self.defs,
            resources=dict(self.defs.resources or {}),
        )  # fmt: skip
        data = (sensor or self.defs.resolve_sensor_def(name)).evaluate_tick(context)
        if data.cursor is not None:
            self.cursors[name] = data.cursor
        return data

    def tick_freshness(self, at: datetime) -> Any:
        """The location's freshness alert sensor as if its clock read ``at``: its builder
        takes a clock so that a drill can look a day ahead without waiting a day."""
        clocked = build_freshness_alert_sensor("demand", clock=lambda: at)
        return self.tick(FRESHNESS_ALERTS, clocked)

    def execute(self, request: dg.RunRequest, sensor: str, day: date) -> dg.ExecuteInProcessResult:
        """A sensor's request as one run: its partition (else ``day``), its assets (else the
        sensor's target) and its run config over the small model settings. Its tags are not
        carried: ``materialize_days`` takes none."""
        keys = list(request.asset_selection or [])
        if not keys:  # the sensor's target: an asset job
            target = self.defs.resolve_sensor_def(sensor).job.selection
            keys = sorted(target.resolve(self.defs.resolve_asset_graph()))
        first = date.fromisoformat(request.partition_key) if request.partition_key else day
        return self.operate(selection_of(keys), first, first, request.run_config)

    def operate(self, selection: str, first: date, last: date, extra: dict | None = None) -> Any:
        """One run over [first, last], as on-call launches it from the UI or the CLI."""
        config = run_config(self.defs, selection, extra)
        result = materialize_days(self.defs, self.instance, first, last, selection=selection,
                                  run_config=config, log_level="CRITICAL")  # fmt: skip
        self.runs.append(result)
        if not result.success:
            # A step failing inside DuckDBResource.get_connection leaves its connection to the
            # garbage collector (no try/finally there). A daemon's run process ends; a drill
            # shares its process with the sensors, whose own connection (another config)
            # DuckDB would refuse while that one is open.
            gc.collect()
        return result

    def ingest(self) -> Any:
        """Tick the landing sensor and run what it requests, one run per day; the tick."""
        data = self.tick(LANDING_SENSOR)
        for request in data.run_requests:
            self.execute(request, LANDING_SENSOR, date.fromisoformat(request.partition_key))
        return data

    def automate(self, day: date, rounds: int = 6) -> list[list[str]]:
        """Evaluate the downstream automation conditions and run what they request (one run
        per tick, as the daemon groups unpartitioned assets) until nothing is requested."""
        graph, launched = self.defs.resolve_asset_graph(), []
        for _ in range(rounds):
            result = dg.evaluate_automation_conditions(
                defs=self.defs, instance=self.instance, asset_selection=FOLLOWS,
                cursor=self.automation,
            )  # fmt: skip
            self.automation = result.cursor
            keys = sorted(k for k in FOLLOWS.resolve(graph) if result.get_num_requested(k))
            if not keys:
                break
            launched.append([key.to_user_string() for key in keys])
            self.operate(selection_of(keys), day, day)
        return launched

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        """Through the location's warehouse resource: one process, one connection config."""
        with self.defs.resources["warehouse"].get_connection() as conn:
            return conn.execute(sql, params or []).pl()

    def value(self, sql: str, params: list | None = None) -> Any:
        """A one-value query; ``None`` when its table is missing (no model in a small home)."""
        try:
            return self.query(sql, params).item()
        except duckdb.CatalogException:
            return None

    def count(self, sql: str, params: list | None = None) -> int:
        return int(self.value(sql, params) or 0)

    def metadata(self, key: dg.AssetKey) -> dict[str, Any]:
        """The newest materialization's metadata: what the UI shows on-call."""
        records = self.instance.fetch_materializations(key, limit=1).records
        event = records[0].asset_materialization if records else None
        return {name: value.value for name, value in (event.metadata if event else {}).items()}

    def stale(self, key: dg.AssetKey, at: datetime) -> bool:
        """``key`` older than its freshness policy's fail window at ``at`` (the rule the
        freshness alert sensor applies, ``core.freshness.stale_alerts``)."""
        alerts = stale_alerts(self.defs.resolve_asset_graph(), self.instance, "demand", at)
        return any(a.asset == key.to_user_string() and a.severity == "ERROR" for a in alerts)

    def version_tags(self, version: str, model: str = "demand_lightgbm") -> dict[str, str]:
        """The registry's own record of a model version: retrain reason, gate decision."""
        from mlflow import MlflowClient  # noqa: PLC0415 (MLflow is slow to import)

        uri = mlflow_target("demand", self.home).tracking_uri
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        return dict(client.get_model_version(model, version).tags)

    def alerts(self) -> pl.DataFrame:
        """Tick both alert sensors; the alert rows about this drill's runs."""
        self.tick(CHECK_ALERTS)
        self.tick(RUN_ALERTS)
        ids = [result.run_id for result in self.runs]
        try:
            return self.query(f"SELECT * FROM {ALERTS_TABLE} WHERE list_contains(?, run_id)", [ids])
        except duckdb.CatalogException:  # no alert yet: the table is created by the first one
            columns = ("kind", "asset", "check_name", "partition", "run_id", "reason")
            return pl.DataFrame(schema=dict.fromkeys(columns, pl.String))


# --- faults: what a source delivers when something upstream goes wrong ----------------------


def rewrite_csv(path: Path, change: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    """Apply ``change`` to a CSV about to be delivered, every value kept as text."""
    frame = change(pl.read_csv(path, infer_schema=False))
    publish(path, frame.write_csv)


def drop_store_items(files: list[list[Path]], share: float, seed: int = 15) -> int:
    """Remove the rows of ``share`` of the store-items (a seeded pick) from every day's POS
    files (``files``: one list per day); returns how many store-items lost their rows."""
    pairs = sorted({(path.stem, item) for path in files[0]
                    for item in pl.read_csv(path, infer_schema=False)["item_id"]})  # fmt: skip
    dropped = set(random.Random(seed).sample(pairs, round(len(pairs) * share)))
    for path in (path for day in files for path in day):
        gone = [item for store, item in dropped if store == path.stem]
        rewrite_csv(path, lambda f, gone=gone: f.filter(~pl.col("item_id").is_in(gone)))
    return len(dropped)


def copy_items(frame: pl.DataFrame, copies: dict[str, str], price: str) -> pl.DataFrame:
    """POS rows for new items (``copies``: new id -> existing id whose units they take)."""
    copied = frame.filter(pl.col("item_id").is_in(list(copies.values())))
    new_id = pl.col("item_id").replace({old: new for new, old in copies.items()})
    added = copied.with_columns(
        pos_line_id=pl.col("pos_line_id").str.replace(r"I\d+$", "") + new_id,
        item_id=new_id, unit_price=pl.lit(price), on_promo=pl.lit("0"),
    )  # fmt: skip
    return pl.concat([frame, added])


def inflation(frame: pl.DataFrame) -> pl.DataFrame:
    """Shelf prices up 60 % and shoppers keep buying: features move, demand does not."""
    price = pl.col("unit_price").cast(pl.Float64, strict=False)
    scaled = (price * 1.6).round(2).cast(pl.String)
    return frame.with_columns(unit_price=pl.when(price.is_not_null()).then(scaled)
                              .otherwise("unit_price"))  # fmt: skip


def demand_moves(frame: pl.DataFrame) -> pl.DataFrame:
    """A store reset moves demand between items (the i-th item sells what the i-th from the
    end sold): every feature's distribution stays, each series' level does not."""
    ids = sorted(frame["item_id"].unique().to_list())
    units = dict(zip(frame["item_id"], frame["units"], strict=True))
    swapped = {item: units[other] for item, other in zip(ids, reversed(ids), strict=True)}
    return frame.with_columns(units=pl.col("item_id").replace_strict(swapped))
