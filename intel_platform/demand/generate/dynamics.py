"""Demand dynamics and the state days carry: calendar, prices and promotions, expected demand,
stock movements and web-shop orders.

Why no I/O here: these functions only draw from the run's Generator and move ``State``; the
caller writes the day's files (``files``), so the draw order stays fixed.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import holidays
import numpy as np

from intel_platform.demand.generate.world import REVIEW_DAYS, Run, World, charm

# Mon..Sun: every category peaks on Saturday, by its own amount (weekday dips scale alike).
WEEKLY = 1 + np.outer([0.25, 0.18, 0.35, 0.30, 0.40], [-0.08, -0.12, -0.1, -0.06, 0.05, 1, 0.75])
YEARLY_AMPLITUDE = np.array([0.06, 0.05, 0.12, 0.15, 0.12])
YEARLY_PEAK_DOY = np.array([200, 120, 340, 350, 100])
CHRISTMAS_RUNUP = np.array([0.25, 0.15, 0.60, 0.70, 0.40])
PRE_HOLIDAY_LIFT, HOLIDAY_DAY_FACTOR, BLACK_FRIDAY_LIFT = 1.15, 0.85, 1.6
PROMO_START_P, PRICE_MOVE_P = 0.008, 1 / 300
PROMO_DAYS, PROMO_DEPTHS = np.array([7, 14]), np.array([0.10, 0.15, 0.20, 0.25, 0.30])
ECOM_MEAN_QTY = 1.25


@dataclass
class State:
    """What carries over from one day to the next: prices, promotions, stock."""

    price: np.ndarray
    promo_end: np.ndarray
    depth: np.ndarray
    on_hand: np.ndarray
    on_order: np.ndarray
    arrival: np.ndarray
    stocked: np.ndarray


def calendar_factors(calendar: holidays.HolidayBase, day: date) -> tuple[np.ndarray, bool]:
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


def advance_prices(
    rng: np.random.Generator, world: World, state: State, t: int
) -> tuple[np.ndarray, np.ndarray]:
    """Occasional permanent price moves, chain-wide 1-2 week promotions; today's shelf price."""
    n = state.price.size
    move = rng.random(n) < PRICE_MOVE_P
    state.price = np.where(move, charm(state.price * rng.uniform(0.92, 1.15, n)), state.price)
    start = (state.promo_end <= t) & (world.launch <= t) & (rng.random(n) < PROMO_START_P)
    state.promo_end = np.where(start, t + rng.choice(PROMO_DAYS, n), state.promo_end)
    state.depth = np.where(start, rng.choice(PROMO_DEPTHS, n), state.depth)
    on_promo = state.promo_end > t
    promo_price = np.round(state.price * (1 - state.depth), 2)
    return np.where(on_promo, promo_price, state.price), on_promo


def expected_demand(
    world: World, state: State, t: int, factor: np.ndarray, on_promo: np.ndarray
) -> np.ndarray:
    """Mean units per store x item today; zero where the item or store is not live yet."""
    age = t - world.launch
    ramp = np.clip(0.3 + 0.7 * age / 28, 0.0, 1.0) * (age >= 0)  # new items build up over 4 weeks
    trend = np.exp(world.trend * t / 365.0)
    price_effect = (state.price / world.base_price) ** (0.5 * world.elasticity)
    promo_lift = np.where(on_promo, (1 - state.depth) ** world.elasticity, 1.0)
    item = world.base_rate * factor[world.cat] * ramp * trend * price_effect * promo_lift
    return world.cell_mult * item[None, :] * (world.open_day <= t)[:, None]


def receive(state: State, active: np.ndarray, target: np.ndarray, t: int) -> None:
    """Morning deliveries; a cell going live today gets its first fill up to target."""
    due = state.arrival == t
    state.on_hand += np.where(due, state.on_order, 0)
    state.on_order[due] = 0
    fresh = active & ~state.stocked
    state.on_hand[fresh] = target[fresh]
    state.stocked |= fresh


def reorder(world: World, state: State, active: np.ndarray, target: np.ndarray, t: int) -> None:
    """Periodic review every ``REVIEW_DAYS``: order up to target, delivered after the lead time."""
    review = active & ((t - world.review) % REVIEW_DAYS == 0) & (state.on_order == 0)
    qty = np.where(review, np.maximum(target - state.on_hand, 0), 0)
    state.on_order += qty
    state.arrival = np.where(qty > 0, t + world.lead[:, None], state.arrival)


def ecom_orders(run: Run, state: State, mean: np.ndarray, t: int) -> dict[str, np.ndarray]:
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
