"""Support tickets of live accounts, and the frustration they add to the hazard of leaving.

Why a state per account: leaving accounts open more tickets (refund requests most), lapsed ones
(card failed) ask billing; settled ones mostly report bugs and ask how-to questions.
"""

from datetime import date

import numpy as np
import polars as pl

from intel_platform.churn import landing
from intel_platform.churn.contracts import TICKET_CATEGORIES
from intel_platform.churn.generate.files import land
from intel_platform.churn.generate.run import Run, next_ids, timestamps

PRIORITIES = ("low", "normal", "high", "urgent")
# Frustration a ticket adds, per category in contract order (refund, billing, bug, how_to, ...).
FRUSTRATION = np.array([1.2, 0.5, 0.4, 0.0, 0.2, 0.1])
# Ticket probability per day and category mix: settled, leaving, lapsed (card failed).
TICKET_P = np.array([1 / 150, 3 / 150, 1 / 20])
CATEGORY_P = np.array(
    [[0.03, 0.17, 0.30, 0.30, 0.10, 0.10], [0.25, 0.20, 0.25, 0.10, 0.15, 0.05],
     [0.02, 0.70, 0.00, 0.03, 0.20, 0.05]]
)  # fmt: skip
RESOLUTION_HOURS = np.array([30.0, 12.0, 60.0, 4.0, 8.0, 10.0])


def write_tickets(run: Run, t: int, day: date) -> None:
    """Tickets of live accounts: leaving ones open more (refunds), lapsed ones ask billing."""
    book, rng = run.book, run.rng
    live = np.flatnonzero(book.active)
    state = np.where(book.react_day[live] >= t, 2, book.leaving[live].astype(np.int64))
    opened = rng.random(live.size) < TICKET_P[state]
    who, state = live[opened], state[opened]
    cum = np.cumsum(CATEGORY_P[state], axis=1)
    cat = np.minimum((rng.random(who.size)[:, None] > cum).sum(axis=1), len(FRUSTRATION) - 1)
    book.frustration[who] += FRUSTRATION[cat]
    urgency = rng.integers(0, 3, who.size) + (book.plan[who] == 2)
    lo = np.where(book.signup[who] == t, book.signup_sec[who], 8 * 3600)
    sec = lo + (rng.random(who.size) * (86399 - lo)).astype(np.int64)
    hours = np.round(rng.lognormal(np.log(RESOLUTION_HOURS[cat]), 0.8), 1)
    order = np.lexsort((who, sec))
    frame = pl.DataFrame(
        {
            "ticket_id": next_ids(run, "TK", who.size),
            "customer_ref": book.ids.gather(who[order]),
            "opened_at": timestamps(run.start, np.full(who.size, t), sec[order]),
            "category": pl.Series(TICKET_CATEGORIES, dtype=pl.String).gather(cat[order]),
            "priority": pl.Series(PRIORITIES, dtype=pl.String).gather(urgency[order]),
            "resolution_hours": hours[order],
        },
        schema_overrides={"ticket_id": pl.String, "opened_at": pl.Datetime("us")},
    )
    land(run, landing.TICKETS, day, t, frame)
