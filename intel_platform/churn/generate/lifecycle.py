"""The billing lifecycle: hazard of deciding to leave, scheduled cancellations and downgrades,
plan moves, renewals (failed cards, save offers), and the day's subscription rows.

Why together: every billing event is queued here on ``Run.events`` and turned into the day's
clean, canonical subscription frame here, in time order.
"""

from datetime import date

import numpy as np
import polars as pl

from intel_platform.churn import landing
from intel_platform.churn.contracts import PLANS, SUBSCRIPTION_EVENTS
from intel_platform.churn.generate.customers import DISCOUNTS, NONE, Book, prices
from intel_platform.churn.generate.run import ISO_FORMAT, Run, next_ids, timestamps

PLAN_HAZARD = np.array([1.3, 0.9, 0.35])
BASE_HAZARD, DISCOUNT_EFFECT, DISCOUNT_DELAY_DAYS = 8e-4, 1.5, 60
EARLY_TENURE_DAYS, EARLY_TENURE_HAZARD, DOWNGRADED_HAZARD = 90, 1.6, 1.5
FRUSTRATION_WEIGHT, FRUSTRATION_DECAY = 0.5, 0.97
LEAD_DAYS, DOWNGRADE_BEFORE_CHURN_P, SAVE_OFFER_P, SAVE_P = (14, 43), 0.4, 0.25, 0.5
UPGRADE_P, DOWNGRADE_P = 1 / 900, 1 / 2500
CARD_FAILURE_P, RETRY_DAYS, REACTIVATE_DAYS = 0.013, (1, 6), (2, 23)
_SIGNUP, _RENEWAL, _PLAN_CHANGE, _DOWNGRADE, _CANCEL, _RETRY, _REACTIVATE = range(7)


def _hazard(book: Book, idx: np.ndarray, t: int) -> np.ndarray:
    """Daily probability of deciding to leave, for customers ``idx``."""
    h = BASE_HAZARD * book.risk[idx] * PLAN_HAZARD[book.plan[idx]]
    h = h * (1 - DISCOUNT_EFFECT * book.discount[idx])
    h = h * np.where(t - book.signup[idx] < EARLY_TENURE_DAYS, EARLY_TENURE_HAZARD, 1.0)
    h = h * np.where(book.downgraded[idx], DOWNGRADED_HAZARD, 1.0)
    return h * np.exp(FRUSTRATION_WEIGHT * book.frustration[idx])


def _decide(run: Run, idx: np.ndarray, t: int, elapsed: np.ndarray) -> None:
    """``idx`` decided ``elapsed`` days before ``t`` to leave: schedule cancel and downgrade."""
    book, rng = run.book, run.rng
    lead = rng.integers(*LEAD_DAYS, idx.size) + np.round(book.discount[idx] * DISCOUNT_DELAY_DAYS)
    lead = lead.astype(np.int64)
    elapsed = np.minimum(elapsed, lead - 1)
    book.leaving[idx] = True
    book.decided[idx] = t - elapsed
    book.cancel_day[idx] = t - elapsed + lead
    drops = (rng.random(idx.size) < DOWNGRADE_BEFORE_CHURN_P) & (book.plan[idx] > 0)
    when = t - elapsed + np.round(lead * rng.uniform(0.2, 0.7, idx.size)).astype(np.int64)
    book.downgrade_day[idx] = np.where(drops & (when > t), when, NONE)


def seed_leavers(run: Run) -> None:
    """Accounts already on their way out at ``start`` (steady state), so churn starts at once."""
    book, rng = run.book, run.rng
    old = np.flatnonzero(book.signup < 0)
    book.active[old] = True
    mean_lead = sum(LEAD_DAYS) / 2
    chosen = old[rng.random(old.size) < _hazard(book, old, 0) * mean_lead]
    _decide(run, chosen, 0, rng.integers(0, LEAD_DAYS[1], chosen.size))


def _emit(run: Run, idx: np.ndarray, kind: int, t: int) -> None:
    """Queue subscription events of ``idx`` with their plan, MRR and discount as of now."""
    if idx.size == 0:
        return
    book = run.book
    sec = book.signup_sec[idx] if kind == _SIGNUP else run.rng.integers(0, 86400, idx.size)
    kinds, day = np.full(idx.size, kind), np.full(idx.size, t)
    run.events.append((idx, kinds, day, sec, book.plan[idx], book.mrr[idx], book.discount[idx]))


def bill_day(run: Run, t: int, day: date) -> None:
    """Today's billing: sign-ups, decisions to leave, plan moves, renewals, cancellations."""
    book, rng = run.book, run.rng
    if t == 0:  # accounts older than the export: their signup row is dated on the first day
        _emit(run, np.flatnonzero(book.signup < 0), _SIGNUP, t)
    new = np.flatnonzero(book.signup == t)
    book.active[new] = True
    _emit(run, new, _SIGNUP, t)
    settled = np.flatnonzero(book.active & ~book.leaving)
    _decide(run, settled[rng.random(settled.size) < _hazard(book, settled, t)], t, 0)
    _move_plans(run, t)
    _renew(run, t, day)
    retry = np.flatnonzero(book.active & (book.retry_day == t))
    _emit(run, retry, _RETRY, t)
    back = np.flatnonzero(book.active & (book.react_day == t))
    book.reversed[back] += 1
    run.tally["reversed_cancellations"] += back.size
    _emit(run, back, _REACTIVATE, t)
    gone = np.flatnonzero(book.active & book.leaving & (book.cancel_day == t))
    _emit(run, gone, _CANCEL, t)
    book.active[gone], book.churn_day[gone] = False, t
    book.retry_day[gone] = book.react_day[gone] = NONE
    run.tally["true_churners"] += gone.size
    run.tally["active_customer_days"] += int(book.active.sum())


def _move_plans(run: Run, t: int) -> None:
    """Scheduled pre-churn downgrades, plus rare upgrades and downgrades of settled accounts."""
    book, rng = run.book, run.rng
    settled = book.active & ~book.leaving & (book.signup < t)
    draw = rng.random(book.plan.size)
    up = np.flatnonzero(settled & (draw < UPGRADE_P) & (book.plan < 2))
    down = np.flatnonzero(
        (settled & (draw > 1 - DOWNGRADE_P) & (book.plan > 0))
        | (book.active & book.leaving & (book.downgrade_day == t))
    )
    for idx, step, kind in ((up, 1, _PLAN_CHANGE), (down, -1, _DOWNGRADE)):
        book.plan[idx] += step
        book.mrr[idx] = prices(rng, book.plan[idx])
        _emit(run, idx, kind, t)
    book.downgraded[down] = True
    run.tally["downgrades"] += down.size


def _renew(run: Run, t: int, day: date) -> None:
    """Monthly renewals on each account's day; a failed card cancels (and is retried, then
    reactivated), a leaving account may take a discount offer and stay."""
    book, rng = run.book, run.rng
    due = np.flatnonzero(
        book.active & (book.renew_dom == day.day) & (book.signup < t - 20)
        & (book.react_day < t) & (book.cancel_day != t)
    )  # fmt: skip
    failed = due[rng.random(due.size) < CARD_FAILURE_P]
    _emit(run, failed, _CANCEL, t)
    book.retry_day[failed] = t + rng.integers(*RETRY_DAYS, failed.size)
    book.react_day[failed] = book.retry_day[failed] + rng.integers(*REACTIVATE_DAYS, failed.size)
    book.involuntary[failed] += 1
    run.tally["involuntary_cancellations"] += failed.size
    paid = np.setdiff1d(due, failed)
    offered = paid[book.leaving[paid] & (rng.random(paid.size) < SAVE_OFFER_P)]
    book.discount[offered] = np.maximum(
        book.discount[offered], rng.choice(DISCOUNTS[2:], offered.size) / 100
    )
    saved = offered[rng.random(offered.size) < SAVE_P]
    book.leaving[saved] = False
    book.cancel_day[saved] = book.downgrade_day[saved] = NONE
    _emit(run, paid, _RENEWAL, t)


def subscription_frame(run: Run) -> pl.DataFrame:
    """Today's queued events in time order, canonical spellings, ISO timestamps."""
    schema = dict.fromkeys(landing.SUBSCRIPTION_COLUMNS, pl.String) | {
        "mrr": pl.Float64, "discount_pct": pl.Int64,
    }  # fmt: skip
    if not run.events:
        return pl.DataFrame(schema=schema)
    cust, kind, day, sec, plan, mrr, discount = (
        np.concatenate(c) for c in zip(*run.events, strict=True)
    )
    run.events.clear()
    order = np.lexsort((cust, sec, day))
    return pl.DataFrame(
        {
            "event_id": next_ids(run, "EV", order.size),
            "account_id": run.book.ids.gather(cust[order]),
            "event_type": pl.Series(SUBSCRIPTION_EVENTS).gather(kind[order]),
            "event_ts": timestamps(run.start, day[order], sec[order]).dt.strftime(ISO_FORMAT),
            "plan": pl.Series(PLANS).gather(plan[order]),
            "mrr": mrr[order],
            "discount_pct": np.round(discount[order] * 100).astype(np.int64),
        },
        schema=schema,
    )
