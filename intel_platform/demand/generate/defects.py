"""The defects real feeds carry, injected on purpose and counted in the run's tally: messy
category spellings, broken till rows, unknown stores (bad-row positions) and re-sent lines.

Why only a few per day: bad rows are drawn per row at a tiny rate plus a floor, so a feed of any
size shows some, and every one is recoverable or quarantinable downstream.
"""

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from intel_platform.demand.generate.world import CATEGORIES, Run

ALIASES_PATH = Path(__file__).parents[1] / "category_aliases.csv"
MESSY_CATEGORY_SHARE = 0.15
POS_BAD_KINDS = ("negative_units", "zero_price", "absurd_price", "bad_date")
BAD_ROW_KINDS = (*POS_BAD_KINDS, "unknown_store")
POS_BAD_RATE, ECOM_BAD_RATE, BAD_FLOOR = 5e-5, 2e-4, 0.1
UNKNOWN_STORES = ("S00", "WH01")
POS_DUP_FILE_P, ECOM_DUP_DAY_P = 0.01, 0.03
# Odd case and stray padding around known aliases; matching is case-insensitive after strip.
_STYLES = (str.lower, str.upper, str.title, " {}".format, "{} ".format)


def category_spellings(rng: np.random.Generator, cat: np.ndarray) -> list[str]:
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


def pick_bad(run: Run, n: int, rate: float) -> np.ndarray:
    """Row positions to break today: a few per day at most, whatever the feed's size."""
    n_bad = min(int(run.rng.poisson(BAD_FLOOR + n * rate)), n)
    return run.rng.choice(n, n_bad, replace=False) if n_bad else np.zeros(0, dtype=np.int64)


def corrupt_pos(run: Run, columns: dict[str, np.ndarray], day: date) -> pl.Series:
    """Break a handful of rows in place, as real tills do; returns the sale_date column."""
    n = columns["units"].size
    idx = pick_bad(run, n, POS_BAD_RATE)
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


def with_duplicates(
    rng: np.random.Generator, frame: pl.DataFrame, bad: np.ndarray, probability: float
) -> tuple[pl.DataFrame, int]:
    """Re-send one or two clean lines verbatim at the end, as a retried upload does."""
    clean = np.flatnonzero(~bad)
    if rng.random() >= probability or clean.size == 0:
        return frame, 0
    rows = np.sort(rng.choice(clean, min(int(rng.integers(1, 3)), clean.size), replace=False))
    return pl.concat([frame, frame.select(pl.all().gather(rows))]), rows.size
