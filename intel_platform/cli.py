"""``intel-platform``: generate sample data, import real data, run the demo.

Each sub-command imports its product lazily, so ``intel-platform --help`` stays instant.
"""

import argparse
import warnings
from datetime import date, timedelta
from pathlib import Path

from intel_platform.core.home import ProjectHome


def _home(args: argparse.Namespace) -> ProjectHome:
    return ProjectHome.resolve(args.home).ensure()


def _generate_demand(args: argparse.Namespace) -> None:
    from intel_platform.demand.generate import generate_demand

    start = date.fromisoformat(args.start) if args.start else date.today() - timedelta(args.days)
    summary = generate_demand(
        _home(args), stores=args.stores, items=args.items, days=args.days, start=start,
        seed=args.seed,
    )  # fmt: skip
    print(summary)


def _import_m5(args: argparse.Namespace) -> None:
    from intel_platform.demand.importers import import_m5

    print(import_m5(_home(args), args.dir, stores=args.stores, items=args.items, days=args.days))


def _import_long(args: argparse.Namespace) -> None:
    from intel_platform.demand.importers import import_long

    columns = {
        "date_col": args.date_col, "units_col": args.units_col, "store_col": args.store_col,
        "item_col": args.item_col, "price_col": args.price_col, "promo_col": args.promo_col,
        "open_col": args.open_col,
    }  # fmt: skip
    plan_from = date.fromisoformat(args.plan_from) if args.plan_from else None
    print(import_long(_home(args), args.file, category=args.category, plan_from=plan_from,
                      **columns))  # fmt: skip


def _generate_churn(args: argparse.Namespace) -> None:
    from intel_platform.churn.generate import generate_churn

    start = date.fromisoformat(args.start) if args.start else date.today() - timedelta(args.days)
    summary = generate_churn(
        _home(args), customers=args.customers, days=args.days, start=start, seed=args.seed
    )
    print(summary)


def _import_activity(args: argparse.Namespace) -> None:
    from intel_platform.churn.importers import import_activity

    print(import_activity(_home(args), args.file, customer_col=args.customer_col,
                          time_col=args.time_col, event_col=args.event_col,
                          amount_col=args.amount_col))  # fmt: skip


def _rollback(args: argparse.Namespace) -> None:
    from intel_platform.core.registry import mlflow_target, rollback

    experiment = args.experiment or args.name.split("_")[0]  # demand_lightgbm -> demand
    print(rollback(mlflow_target(experiment, _home(args)), args.name))


def _demo(args: argparse.Namespace) -> None:
    from intel_platform.demo import run_demo

    run_demo(
        _home(args), stores=args.stores, items=args.items, days=args.days, seed=args.seed,
        customers=args.customers, churn_days=args.churn_days,
    )  # fmt: skip


def _materialize(args: argparse.Namespace) -> None:
    from importlib import import_module

    from intel_platform.core.runs import failed_steps, materialize_days
    from intel_platform.demo import instance_for

    home = _home(args)
    location = import_module(f"intel_platform.{args.product}.definitions").defs()
    result = materialize_days(
        location, instance_for(home), date.fromisoformat(args.first),
        date.fromisoformat(args.last), selection=args.select,
    )  # fmt: skip
    for step, message in failed_steps(result).items():
        print(f"{step} failed: {message}")
    print("run", result.run_id, "succeeded" if result.success else "FAILED")
    raise SystemExit(0 if result.success else 1)


def _scenario(args: argparse.Namespace) -> None:
    from intel_platform.demand.scenarios import run_cli

    table, passed = run_cli(args.name, args.home)
    print(table)
    raise SystemExit(0 if passed else 1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intel-platform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write sample landing files")
    products = generate.add_subparsers(dest="product", required=True)
    demand = products.add_parser("demand", help="messy retail POS, web orders, inventory")
    demand.add_argument("--stores", type=int, default=5)
    demand.add_argument("--items", type=int, default=200)
    demand.add_argument("--days", type=int, default=730)
    demand.add_argument("--start", help="first day, YYYY-MM-DD (default: --days before today)")
    demand.add_argument("--seed", type=int, default=7)
    demand.add_argument("--home", type=Path, help="project home (default $INTEL_PLATFORM_HOME)")
    demand.set_defaults(run=_generate_demand)
    _add_generate_churn(products)

    _add_import_commands(commands)

    model = commands.add_parser("model", help="registry operations")
    actions = model.add_subparsers(dest="action", required=True)
    back = actions.add_parser("rollback", help="champion back to the previous champion")
    back.add_argument("name", help="registered model, e.g. demand_lightgbm or churn_lightgbm")
    back.add_argument("--experiment", help="MLflow experiment (default: the name's product)")
    back.add_argument("--home", type=Path)
    back.set_defaults(run=_rollback)

    run = commands.add_parser("materialize", help="one run over a range of days (a backfill)")
    run.add_argument("product", choices=["demand", "churn"])
    run.add_argument("--first", required=True, help="first day, YYYY-MM-DD")
    run.add_argument("--last", required=True, help="last day, YYYY-MM-DD")
    run.add_argument("--select", help="asset selection, e.g. 'group:demand_raw'")
    run.add_argument("--home", type=Path)
    run.set_defaults(run=_materialize)

    drill = commands.add_parser("scenario", help="play a failure story as a drill (or 'all')")
    drill.add_argument("name", help="rename, unknown-column, weekend-drop, new-category, "
                       "late-store, drift, decay, or all")  # fmt: skip
    drill.add_argument("--home", type=Path, help="an empty folder (default <home>/drills/NAME)")
    drill.set_defaults(run=_scenario)

    demo = commands.add_parser("demo", help="generate data and materialize every asset")
    demo.add_argument("--stores", type=int, default=5)
    demo.add_argument("--items", type=int, default=200)
    demo.add_argument("--days", type=int, default=730)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--customers", type=int, default=5000, help="churn: SaaS customers")
    demo.add_argument("--churn-days", type=int, default=540, help="churn: days of history")
    demo.add_argument("--home", type=Path)
    demo.set_defaults(run=_demo)
    return parser


def _add_import_commands(commands: argparse._SubParsersAction) -> None:
    importer = commands.add_parser("import", help="turn real data into the landing zone")
    kinds = importer.add_subparsers(dest="kind", required=True)
    m5 = kinds.add_parser("m5", help="the public M5 (Walmart) files")
    m5.add_argument("--dir", type=Path, required=True, help="folder with sales_train_*.csv etc.")
    m5.add_argument("--stores", nargs="*", help="subset of store ids (default all)")
    m5.add_argument("--items", nargs="*", help="subset of item ids (default all)")
    m5.add_argument("--days", type=int, help="first N days only")
    m5.add_argument("--home", type=Path)
    m5.set_defaults(run=_import_m5)
    long = kinds.add_parser("long", help="any long daily sales table (CSV or Parquet)")
    long.add_argument("--file", type=Path, required=True)
    long.add_argument("--date-col", required=True)
    long.add_argument("--units-col", required=True)
    for option in ("store", "item", "price", "promo", "open"):
        long.add_argument(f"--{option}-col")
    long.add_argument("--category", default="Grocery", help="category of every item")
    long.add_argument("--plan-from", help="rows from this day on are planned promo/open flags")
    long.add_argument("--home", type=Path)
    long.set_defaults(run=_import_long)
    activity = kinds.add_parser("activity", help="an activity or purchase log as churn usage")
    activity.add_argument("--file", type=Path, required=True, help="CSV or Parquet, one event/row")
    activity.add_argument("--customer-col", required=True)
    activity.add_argument("--time-col", required=True, help="ISO date/datetime or epoch seconds")
    activity.add_argument("--event-col", help="login/session/feature_use pass, others: activity")
    activity.add_argument("--amount-col", help="purchase amount, kept as the 'amount' key")
    activity.add_argument("--home", type=Path)
    activity.set_defaults(run=_import_activity)


def _add_generate_churn(products: argparse._SubParsersAction) -> None:
    churn = products.add_parser("churn", help="messy SaaS billing, usage and support tickets")
    churn.add_argument("--customers", type=int, default=2000)
    churn.add_argument("--days", type=int, default=365)
    churn.add_argument("--start", help="first day, YYYY-MM-DD (default: --days before today)")
    churn.add_argument("--seed", type=int, default=7)
    churn.add_argument("--home", type=Path, help="project home (default $INTEL_PLATFORM_HOME)")
    churn.set_defaults(run=_generate_churn)


def main(argv: list[str] | None = None) -> None:
    # Beta notices (e.g. BackfillPolicy) are for developers, not for a command's output.
    warnings.filterwarnings("ignore", message=".*currently in (beta|preview).*")
    args = _parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
