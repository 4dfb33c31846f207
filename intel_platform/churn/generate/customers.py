"""The book: who the customers are (plan, price, risk, habits) and the state the days move.

Why a book of arrays: days are walked one at a time over per-customer numpy arrays, so memory
stays flat and every draw comes from the run's one Generator in a fixed order.
"""

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from intel_platform.churn.contracts import PLANS

FEATURES = (
    "dashboards", "reports", "exports", "alerts", "integrations", "api", "workflows", "comments",
    "search", "sso", "audit_log", "billing_portal",
)  # fmt: skip
PLAN_SHARE = (0.55, 0.32, 0.13)
PLAN_PRICES = ((29.0, 49.0, 79.0), (99.0, 149.0, 199.0, 299.0), (990.0, 1490.0, 2490.0, 4990.0))
PLAN_USAGE = np.array([0.8, 1.0, 1.4])
PREEXISTING_SHARE, MAX_TENURE_DAYS = 0.6, 3 * 365
DISCOUNT_SHARE, DISCOUNTS = 0.2, np.array([10, 15, 20, 25, 30])
LOGINS_PER_DAY, SESSION_SECONDS, FEATURE_USES = 0.6, 600.0, 1.5
NONE = -(10**6)  # "no such day" in the int day arrays: always in the past


@dataclass
class Book:
    """Per-customer arrays: static traits first, then the state the days move."""

    ids: pl.Series
    signup: np.ndarray  # day index, negative before start
    signup_sec: np.ndarray
    renew_dom: np.ndarray
    risk: np.ndarray
    logins: np.ndarray
    session: np.ndarray
    feature_uses: np.ndarray
    breadth: np.ndarray
    order: np.ndarray  # (customers, features): each one's features by preference
    hour: np.ndarray
    signup_plan: np.ndarray
    signup_discount: np.ndarray
    plan: np.ndarray
    mrr: np.ndarray
    discount: np.ndarray
    # State: flags, then days (``NONE`` when unset), then ground-truth counts.
    active: np.ndarray
    leaving: np.ndarray
    downgraded: np.ndarray
    frustration: np.ndarray
    decided: np.ndarray
    cancel_day: np.ndarray
    downgrade_day: np.ndarray
    retry_day: np.ndarray
    react_day: np.ndarray
    spell_end: np.ndarray
    churn_day: np.ndarray
    involuntary: np.ndarray
    reversed: np.ndarray


_FLAGS = ("active", "leaving", "downgraded")
_DAYS = ("decided", "cancel_day", "downgrade_day", "retry_day", "react_day", "spell_end")


def prices(rng: np.random.Generator, plan: np.ndarray) -> np.ndarray:
    """List MRR of each plan (before discount): a few price points per plan, seat-based above."""
    picks = rng.random(plan.size)
    return np.array(
        [PLAN_PRICES[p][int(u * len(PLAN_PRICES[p]))] for p, u in zip(plan, picks, strict=True)]
    )


def new_book(rng: np.random.Generator, n: int, days: int, start: date) -> Book:
    """Draw the customers; low-engagement customers carry more latent risk (learnable).

    Renewals fall on the sign-up day of the month (the 28th at the latest), as billing does.
    """
    preexisting = rng.random(n) < PREEXISTING_SHARE
    signup = np.where(
        preexisting, -rng.integers(1, MAX_TENURE_DAYS, n), rng.integers(0, max(days, 1), n)
    )
    signed = np.datetime64(start, "D") + signup
    risk = rng.lognormal(-0.18, 0.6, n)
    plan = rng.choice(len(PLANS), n, p=PLAN_SHARE)
    discount = np.where(rng.random(n) < DISCOUNT_SHARE, rng.choice(DISCOUNTS, n), 0) / 100
    return Book(
        ids=pl.Series([f"ACC-{i + 1:06d}" for i in range(n)], dtype=pl.String),
        signup=signup,
        signup_sec=rng.integers(6 * 3600, 22 * 3600, n),
        renew_dom=np.minimum((signed - signed.astype("datetime64[M]")).astype(np.int64) + 1, 28),
        risk=risk,
        logins=rng.lognormal(np.log(LOGINS_PER_DAY), 0.5, n) * PLAN_USAGE[plan] * risk**-0.3,
        session=rng.lognormal(np.log(SESSION_SECONDS), 0.4, n),
        feature_uses=rng.lognormal(np.log(FEATURE_USES), 0.4, n),
        breadth=rng.integers(2, len(FEATURES) + 1, n),
        order=np.argsort(rng.random((n, len(FEATURES))), axis=1).astype(np.int8),
        hour=rng.normal(13.0, 2.5, n),
        signup_plan=plan.copy(),
        signup_discount=discount.copy(),
        plan=plan,
        mrr=prices(rng, plan),
        discount=discount,
        frustration=np.zeros(n),
        churn_day=np.full(n, NONE),
        involuntary=np.zeros(n, dtype=np.int64),
        reversed=np.zeros(n, dtype=np.int64),
        **{name: np.zeros(n, dtype=bool) for name in _FLAGS},
        **{name: np.full(n, NONE) for name in _DAYS},
    )
