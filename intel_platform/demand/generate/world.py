"""The chain's static truth (items, stores, cells) and what one generation carries.

Why one draw up front: every trait is drawn once from the run's Generator, in a fixed order,
before the first day; the days then only move state (``dynamics``).
"""

from collections import Counter
from dataclasses import dataclass

import holidays
import numpy as np
import polars as pl

from intel_platform.core.home import ProjectHome

CATEGORIES = ("Grocery", "Household", "Hobbies", "Electronics", "Apparel")
CATEGORY_SHARE = (0.45, 0.20, 0.13, 0.10, 0.12)
_DEPARTMENTS = (
    "Fresh Pantry Beverages/Cleaning Kitchen/Toys Crafts/Audio Computing Phones/Women Men Kids"
)
DEPARTMENTS = tuple(names.split() for names in _DEPARTMENTS.split("/"))
PRICE_LEVEL = np.array([3.0, 6.0, 9.0, 40.0, 18.0])
LATE_LAUNCH_SHARE = (0.05, 0.10)
REVIEW_DAYS, SAFETY = 7, 1.5
ECOM_SHARE = (0.03, 0.08)


@dataclass
class World:
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
class Run:
    """Everything a simulated day needs besides its own state; ``tally`` feeds the summary."""

    home: ProjectHome
    world: World
    rng: np.random.Generator
    calendar: holidays.HolidayBase
    tally: Counter[str]


def charm(price: np.ndarray) -> np.ndarray:
    """Shelf prices end in 9 (4.59, 12.99): a real catalog never says 4.5317."""
    return np.maximum(np.round(price, 1) - 0.01, 0.19)


def build_world(rng: np.random.Generator, stores: int, items: int, days: int) -> World:
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
    return World(
        store_ids,
        item_ids,
        cat,
        base_rate=rng.lognormal(-0.9, 1.3, items),
        dispersion=rng.uniform(0.6, 4.0, items),
        elasticity=rng.uniform(-3.0, -1.5, items),
        trend=np.clip(rng.normal(0.0, 0.08, items), -0.2, 0.2),
        launch=launch,
        base_price=charm(rng.lognormal(np.log(PRICE_LEVEL[cat]), 0.5)),
        ecom_share=rng.uniform(*ECOM_SHARE, items),
        store_mult=store_mult,
        open_day=open_day,
        lead=rng.integers(2, 5, stores),
        cell_mult=store_mult[:, None] * store_category[:, cat],
        review=rng.integers(0, REVIEW_DAYS, (stores, items)),
        cells=cells.with_columns(suffix=pl.concat_str("store", pl.lit("-"), "item_id")),
    )
