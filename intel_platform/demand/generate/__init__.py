"""Synthetic retail landing zone: a realistic, deliberately messy feed in the M5 shape.

Why: the demand layers need data that behaves like a chain's (intermittent slow movers, weekly
and yearly cycles, holidays, price moves, promotions, stock-outs, late launches) and carries real
feeds' defects (duplicates, negative units, broken dates, unknown stores), each one counted.
Invariants: days are walked one at a time with state in ``(stores, items)`` arrays and each file
is published as soon as built, so memory stays flat at M5 scale (10 x 3049 x 1941); one numpy
Generator seeded by ``seed`` is drawn in a fixed order, so one seed gives byte-identical files.

Modules: ``world`` (the chain's static truth and what a generation carries), ``dynamics``
(calendar, prices, demand, stock, web-shop orders), ``defects`` (category spellings, bad rows,
duplicates), ``files`` (catalog, POS and web-shop files), ``summary`` (the counts).
"""

from collections import Counter
from datetime import date, timedelta
from functools import partial

import holidays
import numpy as np
import polars as pl

from intel_platform.core.home import ProjectHome
from intel_platform.demand import landing
from intel_platform.demand.generate.defects import ALIASES_PATH as ALIASES_PATH
from intel_platform.demand.generate.defects import BAD_ROW_KINDS
from intel_platform.demand.generate.dynamics import (
    State,
    advance_prices,
    calendar_factors,
    ecom_orders,
    expected_demand,
    receive,
    reorder,
)
from intel_platform.demand.generate.files import (
    publish_counted,
    write_catalog,
    write_ecom,
    write_pos,
)
from intel_platform.demand.generate.summary import GenerationSummary
from intel_platform.demand.generate.world import REVIEW_DAYS, SAFETY, Run, build_world

__all__ = ["BAD_ROW_KINDS", "GenerationSummary", "generate_demand"]

_COUNTED = ("files_written", "pos_rows", "ecom_rows", "inventory_rows")
_DUPLICATED = ("pos_duplicates", "ecom_duplicates")


def generate_demand(
    home: ProjectHome, *, stores: int, items: int, days: int, start: date, seed: int
) -> GenerationSummary:
    """Write the catalog, then ``days`` days of POS, web-shop and inventory files from ``start``."""
    rng = np.random.default_rng(seed)
    world = build_world(rng, stores, items, days)
    years = range(start.year, (start + timedelta(days=days)).year + 1)
    run = Run(home, world, rng, holidays.country_holidays("US", years=years), Counter())
    write_catalog(run, start)
    cells = partial(np.zeros, world.cell_mult.shape, dtype=np.int64)
    state = State(
        price=world.base_price.copy(),
        promo_end=np.zeros(items, dtype=np.int64),
        depth=np.zeros(items),
        on_hand=cells(),
        on_order=cells(),
        arrival=cells() - 1,
        stocked=cells().astype(bool),
    )
    for t in range(days):
        _simulate_day(run, state, t, start + timedelta(days=t))
    return GenerationSummary(
        **{name: run.tally[name] for name in _COUNTED + _DUPLICATED},
        bad_rows={kind: run.tally[kind] for kind in BAD_ROW_KINDS},
        products=items,
        stores=stores,
    )


def _simulate_day(run: Run, state: State, t: int, day: date) -> None:
    """One calendar day: prices, demand, stock movements, then that day's three sources."""
    world, rng = run.world, run.rng
    factor, closed = calendar_factors(run.calendar, day)
    price, on_promo = advance_prices(rng, world, state, t)
    mean = expected_demand(world, state, t, factor, on_promo)
    active = (world.launch[None, :] <= t) & (world.open_day[:, None] <= t)
    target = np.ceil(mean * (REVIEW_DAYS + world.lead[:, None]) * SAFETY).astype(np.int64) + 2
    receive(state, active, target, t)
    k = world.dispersion  # gamma-Poisson: negative binomial, zero-heavy for slow movers
    demand = rng.poisson(mean * rng.gamma(k, 1.0 / k, mean.shape))
    sales = np.zeros_like(demand) if closed else np.minimum(demand, state.on_hand)
    state.on_hand -= sales
    orders = ecom_orders(run, state, mean, t)
    reorder(world, state, active, target, t)
    mask = active.ravel()
    cells = world.cells.filter(pl.Series(mask))
    columns = {
        "units": sales.ravel()[mask],
        "unit_price": np.broadcast_to(price, mean.shape).ravel()[mask].copy(),
        "on_promo": np.broadcast_to(on_promo, mean.shape).ravel()[mask].astype(np.int8),
    }
    write_pos(run, day, cells, active.sum(axis=1), columns)
    write_ecom(run, day, orders, price, on_promo)
    inventory = cells.select(
        store_code=pl.col("store"),
        product_sku=pl.col("item_id"),
        snapshot_date=pl.lit(day),
        qty_on_hand=pl.Series(state.on_hand.ravel()[mask]),
        qty_on_order=pl.Series(state.on_order.ravel()[mask]),
    ).select(landing.INVENTORY_COLUMNS)
    publish_counted(run, landing.inventory_file(run.home, day), inventory.write_parquet)
    run.tally["inventory_rows"] += inventory.height
