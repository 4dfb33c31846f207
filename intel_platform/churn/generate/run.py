"""What one generation carries (home, Generator, book, tally, queued billing events) and the
identifiers and timestamps it hands out, shared by every source.

Why here: ids are sequential across the whole run and uuids come from the run's Generator, so
they repeat with the seed like everything else.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from intel_platform.churn.generate.customers import Book
from intel_platform.core.home import ProjectHome

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S"


@dataclass
class Run:
    home: ProjectHome
    rng: np.random.Generator
    book: Book
    start: date
    tally: Counter[str]
    events: list[tuple[np.ndarray, ...]] = field(default_factory=list)


def timestamps(start: date, day: np.ndarray, sec: np.ndarray) -> pl.Series:
    stamps = np.datetime64(start, "us") + (day * 86400 + sec).astype("timedelta64[s]")
    return pl.Series(stamps.astype("datetime64[us]"))


def next_ids(run: Run, prefix: str, n: int) -> list[str]:
    """Sequential ids (``EV00000001``) across the whole run: unique, like a billing system's."""
    first = run.tally[f"seq.{prefix}"]
    run.tally[f"seq.{prefix}"] += n
    return [f"{prefix}{first + i + 1:08d}" for i in range(n)]


def uuids(rng: np.random.Generator, n: int) -> pl.Series:
    """Random version-4 UUIDs from the run's generator, so they too repeat with the seed."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = raw[:, 6] & 0x0F | 0x40
    raw[:, 8] = raw[:, 8] & 0x3F | 0x80
    text = raw.tobytes().hex()
    hexes = pl.Series([text[32 * i : 32 * i + 32] for i in range(n)], dtype=pl.String)
    cuts = ((0, 8), (8, 4), (12, 4), (16, 4), (20, 12))
    return pl.select(
        pl.concat_str([hexes.str.slice(a, b) for a, b in cuts], separator="-")
    ).to_series()
