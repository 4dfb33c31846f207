"""``make demo``: sample data into the project home, every asset of both products (demand,
then churn) materialized, and a summary of each. The demo is the one place that knows both
products; no code location imports it."""

import os
import time
from datetime import date, timedelta

import dagster as dg
import duckdb

from intel_platform.churn.definitions import defs as churn_defs
from intel_platform.churn.generate import generate_churn
from intel_platform.core.home import HOME_ENV_VAR, ProjectHome
from intel_platform.core.registry import champion, mlflow_target
from intel_platform.core.runs import check_results, failed_steps, materialize_days
from intel_platform.core.warehouse import table_exists
from intel_platform.demand.definitions import defs as demand_defs
from intel_platform.demand.generate import generate_demand

DAGSTER_YAML = "telemetry:\n  enabled: false\n"


def instance_for(home: ProjectHome) -> dg.DagsterInstance:
    """The project's SQLite Dagster instance, so demo runs show up in ``make ui``."""
    os.environ["DAGSTER_HOME"] = str(home.dagster_home)
    config = home.dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return dg.DagsterInstance.get()


def run_demo(
    home: ProjectHome,
    *,
    stores: int,
    items: int,
    days: int,
    seed: int,
    customers: int,
    churn_days: int,
) -> None:
    os.environ[HOME_ENV_VAR] = str(home.root)
    last = date.today() - timedelta(days=1)
    instance = instance_for(home)
    first = last - timedelta(days=days - 1)
    started = time.perf_counter()
    generated = generate_demand(home, stores=stores, items=items, days=days, start=first, seed=seed)
    print(f"generated {generated}")
    demand = materialize_days(demand_defs(), instance, first, last)
    print(f"\nmaterialized demand {first}..{last} in {time.perf_counter() - started:.0f} s")
    first = last - timedelta(days=churn_days - 1)
    started = time.perf_counter()
    print(generate_churn(home, customers=customers, days=churn_days, start=first, seed=seed))
    churn = materialize_days(churn_defs(), instance, first, last)
    print(f"\nmaterialized churn {first}..{last} in {time.perf_counter() - started:.0f} s")
    _print_summary(home, [demand, churn])


def _print_models(home: ProjectHome) -> None:
    """The backtest (every model beside seasonal naive) and which model serves."""
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        if not table_exists(conn, "demand_models.backtest"):
            return
        overall = conn.execute(
            "SELECT model, n, wape, mape, rmse, bias, coverage FROM demand_models.backtest "
            "WHERE scope = 'overall' ORDER BY wape"
        ).fetchall()
    print("\nbacktest (same rolling-origin windows for every model):")
    print(f"  {'model':<16}{'rows':>8}{'WAPE':>8}{'MAPE':>8}{'RMSE':>8}{'bias':>8}{'p10-p90':>9}")
    for model, n, wape, mape, rmse, bias, coverage in overall:
        band = f"{coverage:.2f}" if coverage is not None else "-"
        print(f"  {model:<16}{n:>8}{wape:>8.3f}{mape:>8.3f}{rmse:>8.2f}{bias:>+8.3f}{band:>9}")
    serving = champion(mlflow_target("demand", home), "demand_lightgbm")
    if serving is None:
        print("champion: none (the gate promoted no model)")
    else:
        print(f"champion: demand_lightgbm v{serving.version}: {serving.tags.get('gate.reason')}")
    print(
        f"MLflow: {home.mlflow} (mlflow ui --backend-store-uri sqlite:///{home.mlflow}/mlflow.db)"
    )


def _print_churn(home: ProjectHome) -> None:
    """The label validation, both churn models on the same validation rows, who serves, and
    the head of the call list."""
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        if not table_exists(conn, "churn_models.comparison"):
            return
        comparison = conn.execute("SELECT * FROM churn_models.comparison").fetchall()
        calls = conn.execute(
            "SELECT priority, customer_id, round(risk::DOUBLE, 3), round(expected_loss, 1), "
            "driver, action FROM churn_decisions.outreach ORDER BY priority LIMIT 5"
        ).fetchall() if table_exists(conn, "churn_decisions.outreach") else []  # fmt: skip
    print("\nchurn models (same validation snapshots, higher is better except brier/ece):")
    print(f"  {'metric':<18}{'logistic':>10}{'lightgbm':>10}")
    for metric, logistic, lightgbm in comparison:
        shown = ".0f" if float(logistic).is_integer() and float(lightgbm).is_integer() else ".3f"
        print(f"  {metric:<18}{logistic:>10{shown}}{lightgbm:>10{shown}}")
    serving = champion(mlflow_target("churn", home), "churn_lightgbm")
    gate = serving.tags.get("gate.reason") if serving else "the gate promoted no model"
    print(f"champion: churn_lightgbm {'v' + serving.version if serving else 'none'}: {gate}")
    print("outreach (top 5 of churn_decisions.outreach):")
    for row in calls:
        print("  " + " | ".join(str(value) for value in row))


def _print_summary(home: ProjectHome, results: list[dg.ExecuteInProcessResult]) -> None:
    with duckdb.connect(str(home.warehouse), read_only=True) as conn:
        tables = conn.execute(
            "SELECT schema_name || '.' || table_name, 0 FROM duckdb_tables() UNION ALL "
            "SELECT schema_name || '.' || view_name, 0 FROM duckdb_views() WHERE NOT internal "
            "ORDER BY 1"
        ).fetchall()
        print("\ntables (rows):")
        for name, _ in tables:
            count = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            print(f"  {name:<45} {count:>12,}")
    print("\nasset checks:")
    for result in results:
        for check in check_results(result):
            status = "passed" if check.passed else f"FAILED ({check.severity.value})"
            print(f"  {check.asset_key.to_user_string()}:{check.check_name:<28} {status}")
        for step, message in failed_steps(result).items():
            print(f"  step {step} stopped: {message.splitlines()[0][:160]}")
    _print_models(home)
    _print_churn(home)
    print(f"\nwarehouse: {home.warehouse}  (duckdb {home.warehouse} -readonly)")
    print("quarantine: SELECT * FROM demand_harmonized.quarantine (churn_harmonized.quarantine)")
    print(f"Dagster instance: {home.dagster_home}")
    print("UI: make ui, then open http://127.0.0.1:3000")
