"""Synthetic retail landing zone: a realistic, deliberately messy feed in the M5 shape.

Why: the demand layers need data that behaves like a chain's (intermittent slow movers, weekly
and yearly cycles, holidays, price moves, promotions, stock-outs, late launches) and carries real
feeds' defects (duplicates, negative units, broken dates, unknown stores), each one counted.
Invariants: days are walked one at a time with state in ``(stores, items)`` arrays and each file
is published as soon as built, so memory stays flat at M5 scale (10 x 3049 x 1941); one numpy
Generator seeded by ``seed`` is drawn in a fixed order, so one seed gives byte-identical files.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import holidays
import numpy as np
import polars as pl

from intel_platform.core.home import ProjectHome
from intel_platform.core.landing import publish
from intel_platform.demand import landing

__all__ = ["BAD_ROW_KINDS", "GenerationSummary", "generate_demand"]

ALIASES_PATH = Path(__file__).with_name("category_aliases.csv")
CATEGORIES = ("Grocery", "Household", "Hobbies", "Electronics", "Apparel")
CATEGORY_SHARE = (0.45, 0.20, 0.13, 0.10, 0.12)
_DEPARTMENTS = (
    "Fresh Pantry Beverages/Cleaning Kitchen/Toys Crafts/Audio Computing Phones/Women Men Kids"
)
DEPARTMENTS = tuple(names.split() for names in _DEPARTMENTS.split("/"))
PRICE_LEVEL = np.array([3.0, 6.0, 9.0, 40.0, 18.0])
# Mon..Sun: every category peaks on Saturday, by its own amount (weekday dips scale alike).
WEEKLY = 1 + np.outer([0.25, 0.18, 0.35, 0.30, 0.40], [-0.08, -0.12, -0.1, -0.06, 0.05, 1, 0.75])
YEARLY_AMPLITUDE = np.array([0.06, 0.05, 0.12, 0.15, 0.12])
YEARLY_PEAK_DOY = np.array([200, 120, 340, 350, 100])
CHRISTMAS_RUNUP = np.array([0.25, 0.15, 0.60, 0.70, 0.40])
PRE_HOLIDAY_LIFT, HOLIDAY_DAY_FACTOR, BLACK_FRIDAY_LIFT = 1.15, 0.85, 1.6
STATES = ("CA", "TX", "WI")

MESSY_CATEGORY_SHARE, LATE_LAUNCH_SHARE = 0.15, (0.05, 0.10)
REVIEW_DAYS, SAFETY = 7, 1.5
PROMO_START_P, PRICE_MOVE_P = 0.008, 1 / 300
PROMO_DAYS, PROMO_DEPTHS = np.array([7, 14]), np.array([0.10, 0.15, 0.20, 0.25, 0.30])
ECOM_SHARE, ECOM_MEAN_QTY = (0.03, 0.08), 1.25
POS_BAD_KINDS = ("negative_units", "zero_price", "absurd_price", "bad_date")
BAD_ROW_KINDS = (*POS_BAD_KINDS, "unknown_store")
POS_BAD_RATE, ECOM_BAD_RATE, BAD_FLOOR = 5e-5, 2e-4, 0.1
UNKNOWN_STORES = ("S00", "WH01")
POS_DUP_FILE_P, ECOM_DUP_DAY_P = 0.01, 0.03
# Odd case and stray padding around known aliases; matching is case-insensitive after strip.
_STYLES = (str.lower, str.upper, str.title, " {}".format, "{} ".format)
_COUNTED = ("files_written", "pos_rows", "ecom_rows", "inventory_rows")
_DUPLICATED = ("pos_duplicates", "ecom_duplicates")


@dataclass(frozen=True)
class GenerationSummary:
    """What one generation wrote, with every defect injected on purpose, for reconciliation.

    Row counts are rows as written, duplicates and bad rows included; ``bad_rows`` has one entry
    per kind in ``BAD_ROW_KINDS``.
    """

    files_written: int
    pos_rows: int
    ecom_rows: int
    inventory_rows: int
    pos_duplicates: int
    ecom_duplicates: int
    bad_rows: dict[str, int]
    products: int
    stores: int

    @property
    def duplicates(self) -> int:
        return self.pos_duplicates + self.ecom_duplicates

    @property
    def bad_rows_total(self) -> int:
        return sum(self.bad_rows.values())


@dataclass
class _World:
    """Static truth of the chain: per item (``items,``), per store, per cell (``stores, items``)."""

    store_ids: list[str]
    item_ids: list[str]
    cat: np.ndarray
    base_rate: np.ndarray
    dispersion: np.ndarray
    elasticity: np.ndarray
    trend: np.ndarray
    launch: np.ndarray
    base_price: np.ndarray
    ecom_share: np.ndarray
    store_mult: np.ndarray
    open_day: np.ndarray
    lead: np.ndarray
    cell_mult: np.ndarray
    review: np.ndarray
    cells: pl.DataFrame


@dataclass
class _State:
    """What carries over from one day to the next: prices, promotions, stock."""

    price: np.ndarray
    promo_end: np.ndarray
    depth: np.ndarray
    on_hand: np.ndarray
    on_order: np.ndarray
    arrival: np.ndarray
    stocked: np.ndarray


@dataclass
class _Run:
    """Everything a simulated day needs besides its own state; ``tally`` feeds the summary."""

    home: ProjectHome
    world: _World
    rng: np.random.Generator
    calendar: holidays.HolidayBase
    tally: Counter[str]


def generate_demand(
    home: ProjectHome, *, stores: int, items: int, days: int, start: date, seed: int
) -> GenerationSummary:
    """Write the catalog, then ``days`` days of POS, web-shop and inventory files from ``start``."""
    rng = np.random.default_rng(seed)
    world = _build_world(rng, stores, items, days)
    years = range(start.year, (start + timedelta(days=days)).year + 1)
    run = _Run(home, world, rng, holidays.country_holidays("US", years=years), Counter())
    _write_catalog(run, start)
    cells = partial(np.zeros, world.cell_mult.shape, dtype=np.int64)
    state = _State(
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


def _charm(price: np.ndarray) -> np.ndarray:
    """Shelf prices end in 9 (4.59, 12.99): a real catalog never says 4.5317."""
    return np.maximum(np.round(price, 1) - 0.01, 0.19)


def _build_world(rng: np.random.Generator, stores: int, items: int, days: int) -> _World:
    """Draw items and stores; a lognormal base rate makes most items intermittent slow movers."""
    cat = rng.choice(len(CATEGORIES), items, p=CATEGORY_SHARE)
    n_late = min(items - 1, max(int(days >= 10), round(items * rng.uniform(*LATE_LAUNCH_SHARE))))
    launch = np.zeros(items, dtype=np.int64)
    late_days = rng.integers(days // 10, days * 9 // 10 + 1, n_late)
    launch[rng.choice(items, n_late, replace=False)] = late_days
    store_mult = rng.lognormal(0.0, 0.35, stores)
    open_day = np.zeros(stores, dtype=np.int64)
    open_day[-1] = days // 4 if stores >= 3 else 0  # one store opens later in the history
    store_ids = [f"S{s + 1:02d}" for s in range(stores)]
    item_ids = [f"I{i + 1:05d}" for i in range(items)]
    cells = pl.DataFrame(
        {"store": np.repeat(store_ids, items), "item_id": np.tile(item_ids, stores)}
    )
    store_category = rng.lognormal(0.0, 0.15, (stores, len(CATEGORIES)))
    return _World(
        store_ids,
        item_ids,
        cat,
        base_rate=rng.lognormal(-0.9, 1.3, items),
        dispersion=rng.uniform(0.6, 4.0, items),
        elasticity=rng.uniform(-3.0, -1.5, items),
        trend=np.clip(rng.normal(0.0, 0.08, items), -0.2, 0.2),
        launch=launch,
        base_price=_charm(rng.lognormal(np.log(PRICE_LEVEL[cat]), 0.5)),
        ecom_share=rng.uniform(*ECOM_SHARE, items),
        store_mult=store_mult,
        open_day=open_day,
        lead=rng.integers(2, 5, stores),
        cell_mult=store_mult[:, None] * store_category[:, cat],
        review=rng.integers(0, REVIEW_DAYS, (stores, items)),
        cells=cells.with_columns(suffix=pl.concat_str("store", pl.lit("-"), "item_id")),
    )


def _category_spellings(rng: np.random.Generator, cat: np.ndarray) -> list[str]:
    """Mostly canonical names, a share of known aliases in odd case or padding.

    Only spellings listed in ``category_aliases.csv`` are used, so every one is recoverable.
    """
    table = pl.read_csv(ALIASES_PATH)
    aliases = {c: table.filter(pl.col("category") == c)["alias"].to_list() for c in CATEGORIES}
    messy = np.zeros(cat.size, dtype=bool)  # a fixed share, so even a tiny catalog shows mess
    messy[rng.choice(cat.size, max(1, round(cat.size * MESSY_CATEGORY_SHARE)), replace=False)] = (
        True
    )
    picks, styles = rng.random(cat.size), rng.integers(0, len(_STYLES), cat.size)
    spellings = []
    for i, c in enumerate(cat):
        options = aliases[CATEGORIES[c]]
        alias = options[int(picks[i] * len(options))]
        spellings.append(_STYLES[styles[i]](alias) if messy[i] else CATEGORIES[c])
    return spellings


def _write_catalog(run: _Run, start: date) -> None:
    """Reference data: stores with their opening date, products with launch date and price."""
    world, rng = run.world, run.rng
    picks = rng.random(world.cat.size)
    departments = [
        DEPARTMENTS[c][int(p * len(DEPARTMENTS[c]))] for c, p in zip(world.cat, picks, strict=True)
    ]
    iso = [(start + timedelta(days=int(d))).isoformat() for d in world.launch]
    products = pl.DataFrame(
        {
            "item_id": world.item_ids,
            "item_name": [f"{d} product {i + 1}" for i, d in enumerate(departments)],
            "category": _category_spellings(rng, world.cat),
            "department": departments,
            "launch_date": iso,
            "base_price": world.base_price,
        }
    ).select(landing.PRODUCT_COLUMNS)
    n = len(world.store_ids)
    stores = pl.DataFrame(
        {
            "store_id": world.store_ids,
            "store_name": [f"Store {s + 1}" for s in range(n)],
            "state": [STATES[s % len(STATES)] for s in range(n)],
            "open_date": [(start + timedelta(days=int(d))).isoformat() for d in world.open_day],
        }
    ).select(landing.STORE_COLUMNS)
    _publish(run, landing.products_file(run.home), partial(products.write_csv, float_precision=2))
    _publish(run, landing.stores_file(run.home), stores.write_csv)


def _publish(run: _Run, path: Path, write: Callable[[Path], object]) -> None:
    publish(path, write)
    run.tally["files_written"] += 1


def _calendar_factors(calendar: holidays.HolidayBase, day: date) -> tuple[np.ndarray, bool]:
    """Per-category demand multiplier of one day, and whether stores are closed (Christmas)."""
    angle = 2 * np.pi * (day.timetuple().tm_yday - YEARLY_PEAK_DOY) / 365.25
    factor = WEEKLY[:, day.weekday()] * (1 + YEARLY_AMPLITUDE * np.cos(angle))
    until_christmas = (date(day.year, 12, 25) - day).days
    if 0 < until_christmas <= 21:
        factor = factor * (1 + CHRISTMAS_RUNUP * (1 - until_christmas / 22))
    elif any(day + timedelta(days=k) in calendar for k in (1, 2, 3)):
        factor = factor * PRE_HOLIDAY_LIFT
    if "Thanksgiving" in calendar.get(day - timedelta(days=1), ""):
        factor = factor * BLACK_FRIDAY_LIFT
    if day in calendar:
        factor = factor * HOLIDAY_DAY_FACTOR
    return factor, (day.month, day.day) == (12, 25)


def _advance_prices(
    rng: np.random.Generator, world: _World, state: _State, t: int
) -> tuple[np.ndarray, np.ndarray]:
    """Occasional permanent price moves, chain-wide 1-2 week promotions; today's shelf price."""
    n = state.price.size
    move = rng.random(n) < PRICE_MOVE_P
    state.price = np.where(move, _charm(state.price * rng.uniform(0.92, 1.15, n)), state.price)
    start = (state.promo_end <= t) & (world.launch <= t) & (rng.random(n) < PROMO_START_P)
    state.promo_end = np.where(start, t + rng.choice(PROMO_DAYS, n), state.promo_end)
    state.depth = np.where(start, rng.choice(PROMO_DEPTHS, n), state.depth)
    on_promo = state.promo_end > t
    promo_price = np.round(state.price * (1 - state.depth), 2)
    return np.where(on_promo, promo_price, state.price), on_promo


def _expected_demand(
    world: _World, state: _State, t: int, factor: np.ndarray, on_promo: np.ndarray
) -> np.ndarray:
    """Mean units per store x item today; zero where the item or store is not live yet."""
    age = t - world.launch
    ramp = np.clip(0.3 + 0.7 * age / 28, 0.0, 1.0) * (age >= 0)  # new items build up over 4 weeks
    trend = np.exp(world.trend * t / 365.0)
    price_effect = (state.price / world.base_price) ** (0.5 * world.elasticity)
    promo_lift = np.where(on_promo, (1 - state.depth) ** world.elasticity, 1.0)
    item = world.base_rate * factor[world.cat] * ramp * trend * price_effect * promo_lift
    return world.cell_mult * item[None, :] * (world.open_day <= t)[:, None]


def _simulate_day(run: _Run, state: _State, t: int, day: date) -> None:
    """One calendar day: prices, demand, stock movements, then that day's three sources."""
    world, rng = run.world, run.rng
    factor, closed = _calendar_factors(run.calendar, day)
    price, on_promo = _advance_prices(rng, world, state, t)
    mean = _expected_demand(world, state, t, factor, on_promo)
    active = (world.launch[None, :] <= t) & (world.open_day[:, None] <= t)
    target = np.ceil(mean * (REVIEW_DAYS + world.lead[:, None]) * SAFETY).astype(np.int64) + 2
    _receive(state, active, target, t)
    k = world.dispersion  # gamma-Poisson: negative binomial, zero-heavy for slow movers
    demand = rng.poisson(mean * rng.gamma(k, 1.0 / k, mean.shape))
    sales = np.zeros_like(demand) if closed else np.minimum(demand, state.on_hand)
    state.on_hand -= sales
    orders = _ecom_orders(run, state, mean, t)
    _reorder(world, state, active, target, t)
    mask = active.ravel()
    cells = world.cells.filter(pl.Series(mask))
    columns = {
        "units": sales.ravel()[mask],
        "unit_price": np.broadcast_to(price, mean.shape).ravel()[mask].copy(),
        "on_promo": np.broadcast_to(on_promo, mean.shape).ravel()[mask].astype(np.int8),
    }
    _write_pos(run, day, cells, active.sum(axis=1), columns)
    _write_ecom(run, day, orders, price, on_promo)
    inventory = cells.select(
        store_code=pl.col("store"),
        product_sku=pl.col("item_id"),
        snapshot_date=pl.lit(day),
        qty_on_hand=pl.Series(state.on_hand.ravel()[mask]),
        qty_on_order=pl.Series(state.on_order.ravel()[mask]),
    ).select(landing.INVENTORY_COLUMNS)
    _publish(run, landing.inventory_file(run.home, day), inventory.write_parquet)
    run.tally["inventory_rows"] += inventory.height


def _receive(state: _State, active: np.ndarray, target: np.ndarray, t: int) -> None:
    """Morning deliveries; a cell going live today gets its first fill up to target."""
    due = state.arrival == t
    state.on_hand += np.where(due, state.on_order, 0)
    state.on_order[due] = 0
    fresh = active & ~state.stocked
    state.on_hand[fresh] = target[fresh]
    state.stocked |= fresh


def _reorder(world: _World, state: _State, active: np.ndarray, target: np.ndarray, t: int) -> None:
    """Periodic review every ``REVIEW_DAYS``: order up to target, delivered after the lead time."""
    review = active & ((t - world.review) % REVIEW_DAYS == 0) & (state.on_order == 0)
    qty = np.where(review, np.maximum(target - state.on_hand, 0), 0)
    state.on_order += qty
    state.arrival = np.where(qty > 0, t + world.lead[:, None], state.arrival)


def _pick_bad(run: _Run, n: int, rate: float) -> np.ndarray:
    """Row positions to break today: a few per day at most, whatever the feed's size."""
    n_bad = min(int(run.rng.poisson(BAD_FLOOR + n * rate)), n)
    return run.rng.choice(n, n_bad, replace=False) if n_bad else np.zeros(0, dtype=np.int64)


def _corrupt_pos(run: _Run, columns: dict[str, np.ndarray], day: date) -> pl.Series:
    """Break a handful of rows in place, as real tills do; returns the sale_date column."""
    n = columns["units"].size
    idx = _pick_bad(run, n, POS_BAD_RATE)
    kind = run.rng.integers(0, len(POS_BAD_KINDS), idx.size)
    negative = idx[kind == 0]
    columns["units"][negative] = -run.rng.integers(1, 6, negative.size)
    columns["unit_price"][idx[kind == 1]] = 0.0
    columns["unit_price"][idx[kind == 2]] *= 1000.0
    dates = pl.repeat(day.isoformat(), n, eager=True)
    broken = idx[kind == 3]
    if broken.size:
        garbage = run.rng.choice([f"{day.year}-13-45", "n/a"], broken.size).tolist()
        dates = dates.scatter(broken, garbage)
    for k, name in enumerate(POS_BAD_KINDS):
        run.tally[name] += int((kind == k).sum())
    columns["bad"] = np.isin(np.arange(n), idx)
    return dates


def _with_duplicates(
    rng: np.random.Generator, frame: pl.DataFrame, bad: np.ndarray, probability: float
) -> tuple[pl.DataFrame, int]:
    """Re-send one or two clean lines verbatim at the end, as a retried upload does."""
    clean = np.flatnonzero(~bad)
    if rng.random() >= probability or clean.size == 0:
        return frame, 0
    rows = np.sort(rng.choice(clean, min(int(rng.integers(1, 3)), clean.size), replace=False))
    return pl.concat([frame, frame.select(pl.all().gather(rows))]), rows.size


def _write_pos(
    run: _Run, day: date, cells: pl.DataFrame, per_store: np.ndarray, columns: dict[str, np.ndarray]
) -> None:
    """One CSV per open store: every live item, zero-sales rows included (missing != zero)."""
    dates = _corrupt_pos(run, columns, day)
    bad = columns.pop("bad")
    frame = cells.select(
        pos_line_id=pl.concat_str(pl.lit(f"P-{day.isoformat()}-"), "suffix"),
        store=pl.col("store"),
        item_id=pl.col("item_id"),
        sale_date=dates,
        **{name: pl.Series(values) for name, values in columns.items()},
    ).select(landing.POS_COLUMNS)
    offsets = np.concatenate([[0], np.cumsum(per_store)])
    for s, store in enumerate(run.world.store_ids):
        lo, hi = int(offsets[s]), int(offsets[s + 1])
        if hi == lo:
            continue
        part, dups = _with_duplicates(run.rng, frame.slice(lo, hi - lo), bad[lo:hi], POS_DUP_FILE_P)
        _publish(
            run, landing.pos_file(run.home, day, store), partial(part.write_csv, float_precision=2)
        )
        run.tally["pos_rows"] += part.height
        run.tally["pos_duplicates"] += dups


def _ecom_orders(run: _Run, state: _State, mean: np.ndarray, t: int) -> dict[str, np.ndarray]:
    """Web-shop order lines (a few % of demand), fulfilled from, and depleting, store stock."""
    world, rng = run.world, run.rng
    lines = rng.poisson(mean.sum(axis=0) * world.ecom_share / ECOM_MEAN_QTY)
    sku = np.repeat(np.arange(lines.size), lines)
    seconds = np.clip(rng.normal(14.5 * 3600, 4 * 3600, sku.size), 0, 86399).astype(np.int64)
    order = np.argsort(seconds, kind="stable")
    sku, seconds = sku[order], seconds[order]
    qty = 1 + rng.poisson(ECOM_MEAN_QTY - 1, sku.size)
    live = np.flatnonzero(world.open_day <= t)
    store = rng.choice(live, sku.size, p=world.store_mult[live] / world.store_mult[live].sum())
    used = np.bincount(store * lines.size + sku, weights=qty, minlength=mean.size)
    state.on_hand = np.maximum(state.on_hand - used.reshape(mean.shape).astype(np.int64), 0)
    return {"sku": sku, "seconds": seconds, "qty": qty, "store": store}


def _write_ecom(
    run: _Run, day: date, orders: dict[str, np.ndarray], price: np.ndarray, on_promo: np.ndarray
) -> None:
    """One JSONL per day; a few lines name a store that does not exist, one may be re-sent."""
    sku, n = orders["sku"], orders["sku"].size
    stores = pl.Series(run.world.store_ids, dtype=pl.String).gather(orders["store"])
    idx = _pick_bad(run, n, ECOM_BAD_RATE)
    if idx.size:
        stores = stores.scatter(idx, run.rng.choice(UNKNOWN_STORES, idx.size).tolist())
    run.tally["unknown_store"] += idx.size
    stamps = pl.Series(np.datetime64(day, "ms") + orders["seconds"] * np.timedelta64(1, "s"))
    frame = pl.DataFrame(
        {
            "order_line_id": [f"E-{day.isoformat()}-{i + 1:05d}" for i in range(n)],
            "fulfillment_store": stores,
            "sku": pl.Series(run.world.item_ids, dtype=pl.String).gather(sku),
            "order_date": stamps.dt.strftime("%Y-%m-%dT%H:%M:%S"),
            "qty": pl.Series(orders["qty"], dtype=pl.Int64),
            "price_per_unit": pl.Series(price[sku], dtype=pl.Float64),
            "promotion": pl.Series(on_promo[sku], dtype=pl.Boolean),
        },
        schema_overrides={"order_line_id": pl.String},
    ).select(landing.ECOM_COLUMNS)
    frame, dups = _with_duplicates(run.rng, frame, np.isin(np.arange(n), idx), ECOM_DUP_DAY_P)
    _publish(run, landing.ecom_file(run.home, day), frame.write_ndjson)
    run.tally["ecom_rows"] += frame.height
    run.tally["ecom_duplicates"] += dups
