"""Synthetic SaaS landing zone: billing events, product usage and support tickets of customers
whose churn is driven by a latent risk, with the defects real exports carry, each one counted.

Why: the churn layers need data where churn is rare (about 2 % of active customers a month) but
learnable, and where the naive label is wrong. Per customer and day:

- the hazard of deciding to leave is a latent risk (lognormal) times the plan (enterprise churns
  least), the discount (a discount lowers it and delays the cancellation), early tenure, a past
  downgrade and "frustration": tickets raise it (refund requests most), it halves in ~3 weeks;
- a customer who decides cancels 2-6 weeks later and disengages meanwhile (fewer logins,
  shorter sessions, fewer distinct features, more tickets and refund requests, often a
  downgrade); some get a discount offer at renewal and half of those stay;
- a true churner uses nothing from the cancellation day on;
- a renewal whose card fails is cancelled, retried and reactivated within 28 days while the
  customer keeps using the product: the "wrong churn" (about a third of all cancellations).

Accounts that exist before ``start`` (60 %) get a ``signup`` row dated on the first day: the
export starts there, so tenure in the files counts from the first day seen (the harmonized layer
quarantines rows dated outside their file's day). Their real sign-up date, which drives the
simulation (early tenure churns more), is in the summary's ``truth``.

Billing rows carry the plan's list ``mrr`` and the ``discount_pct`` off it (0, 10-30).

Defects, emitted exactly as the constants say and counted in the summary:

- spellings: a share of rows uses a variant of ``EVENT_TYPE_SPELLINGS`` / ``PLAN_SPELLINGS``
  (subscriptions) and ``CATEGORY_SPELLINGS`` (tickets), canonical -> variants; the rest is
  canonical (``contracts.SUBSCRIPTION_EVENTS``, ``PLANS``, ``TICKET_CATEGORIES``);
- timestamps: ``NON_ISO_FORMAT`` for a share of subscription and usage rows, else ``ISO_FORMAT``
  (ticket ``opened_at`` is a typed Parquet timestamp);
- duplicates: a row re-sent verbatim at the end of its file (same event_id / uuid / ticket_id);
- bad rows, ``BAD_ROW_KINDS`` per source, values from ``BAD_TIMESTAMPS`` and
  ``UNKNOWN_EVENT_TYPES``: extra rows with one defect each, never a corrupted real event (so
  the ground truth survives quarantine); the first day carries at least one of every kind.

Invariants: one numpy Generator drawn in a fixed order (one seed, byte-identical files); days
are walked one at a time over per-customer state arrays, so memory stays flat.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial

import numpy as np
import polars as pl

from intel_platform.churn import landing
from intel_platform.churn.contracts import (
    PLANS,
    SUBSCRIPTION_EVENTS,
    TICKET_CATEGORIES,
    USAGE_EVENTS,
)
from intel_platform.core.home import ProjectHome
from intel_platform.core.landing import publish

__all__ = [
    "BAD_ROW_KINDS", "BAD_TIMESTAMPS", "CATEGORY_SPELLINGS", "EVENT_TYPE_SPELLINGS", "FEATURES",
    "ISO_FORMAT", "NON_ISO_FORMAT", "PLAN_SPELLINGS", "UNKNOWN_EVENT_TYPES",
    "ChurnGenerationSummary", "generate_churn",
]  # fmt: skip

FEATURES = (
    "dashboards", "reports", "exports", "alerts", "integrations", "api", "workflows", "comments",
    "search", "sso", "audit_log", "billing_portal",
)  # fmt: skip
EVENT_TYPE_SPELLINGS: dict[str, tuple[str, ...]] = {
    "signup": ("SIGNUP", "Signup", "sign_up"),
    "renewal": ("RENEWAL", "Renewed", "renewal "),
    "plan_change": ("PLAN_CHANGE", "plan-change", "Plan Change"),
    "downgrade": ("DOWNGRADE", "Downgrade", "downgrade "),
    "cancellation": ("CANCEL", "Cancelled", "cancellation ", "canceled"),
    "billing_retry": ("billing-retry", "BILLING_RETRY", "Billing Retry"),
    "reactivation": ("REACTIVATION", "Reactivated", "reactivate"),
}
PLAN_SPELLINGS: dict[str, tuple[str, ...]] = {
    "basic": ("Basic", "BASIC", "basic "),
    "pro": ("Pro", "PRO", "professional"),
    "enterprise": ("Enterprise", "ENT", "ent"),
}
CATEGORY_SPELLINGS: dict[str, tuple[str, ...]] = {
    "refund_request": ("Refund", "REFUND_REQ", "refund request"),
    "billing": ("Billing", "BILLING"),
    "bug": ("Bug", "BUG", "defect"),
    "how_to": ("How-To", "how to", "QUESTION"),
    "account": ("Account", "ACCOUNT"),
    "other": ("Other", "OTHER"),
}
ISO_FORMAT, NON_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M:%S"
UNKNOWN_EVENT_TYPES = ("trial_extension", "seat_added")
BAD_TIMESTAMPS = ("n/a", "2024-13-45T25:61:00", "yesterday")
BAD_ROW_KINDS: dict[str, tuple[str, ...]] = {
    landing.SUBSCRIPTIONS: ("bad_timestamp", "negative_mrr", "unknown_event_type",
                            "missing_customer_id"),
    landing.USAGE: ("bad_timestamp", "missing_customer_id"),
    landing.TICKETS: ("missing_customer_id",),
}  # fmt: skip
# (id, customer, timestamp) column of each source, for the defects and the duplicates.
_KEYS = {
    landing.SUBSCRIPTIONS: ("event_id", "account_id", "event_ts"),
    landing.USAGE: ("event_uuid", "user_id", "timestamp"),
    landing.TICKETS: ("ticket_id", "customer_ref", "opened_at"),
}
_SPELLINGS = {"event_type": EVENT_TYPE_SPELLINGS, "plan": PLAN_SPELLINGS,
              "category": CATEGORY_SPELLINGS}  # fmt: skip
_PATHS = {landing.SUBSCRIPTIONS: landing.subscriptions_file, landing.USAGE: landing.usage_file,
          landing.TICKETS: landing.tickets_file}  # fmt: skip
PRIORITIES = ("low", "normal", "high", "urgent")

PLAN_SHARE = (0.55, 0.32, 0.13)
PLAN_PRICES = ((29.0, 49.0, 79.0), (99.0, 149.0, 199.0, 299.0), (990.0, 1490.0, 2490.0, 4990.0))
PLAN_HAZARD, PLAN_USAGE = np.array([1.3, 0.9, 0.35]), np.array([0.8, 1.0, 1.4])
PREEXISTING_SHARE, MAX_TENURE_DAYS = 0.6, 3 * 365
DISCOUNT_SHARE, DISCOUNTS = 0.2, np.array([10, 15, 20, 25, 30])
BASE_HAZARD, DISCOUNT_EFFECT, DISCOUNT_DELAY_DAYS = 8e-4, 1.5, 60
EARLY_TENURE_DAYS, EARLY_TENURE_HAZARD, DOWNGRADED_HAZARD = 90, 1.6, 1.5
FRUSTRATION_WEIGHT, FRUSTRATION_DECAY = 0.5, 0.97
# Frustration a ticket adds, per category in contract order (refund, billing, bug, how_to, ...).
FRUSTRATION = np.array([1.2, 0.5, 0.4, 0.0, 0.2, 0.1])
LEAD_DAYS, DOWNGRADE_BEFORE_CHURN_P, SAVE_OFFER_P, SAVE_P = (14, 43), 0.4, 0.25, 0.5
UPGRADE_P, DOWNGRADE_P = 1 / 900, 1 / 2500
CARD_FAILURE_P, RETRY_DAYS, REACTIVATE_DAYS = 0.013, (1, 6), (2, 23)
# Ticket probability per day and category mix: settled, leaving, lapsed (card failed).
TICKET_P = np.array([1 / 150, 3 / 150, 1 / 20])
CATEGORY_P = np.array(
    [[0.03, 0.17, 0.30, 0.30, 0.10, 0.10], [0.25, 0.20, 0.25, 0.10, 0.15, 0.05],
     [0.02, 0.70, 0.00, 0.03, 0.20, 0.05]]
)  # fmt: skip
RESOLUTION_HOURS = np.array([30.0, 12.0, 60.0, 4.0, 8.0, 10.0])
LOGINS_PER_DAY, SESSION_SECONDS, FEATURE_USES = 0.6, 600.0, 1.5
# Weekend volume stays above half the weekday level: the usage volume check compares each day
# with the median of the 14 before it, and a plain weekend must not look like a dropped batch.
WEEKEND_FACTOR, DISENGAGE_DEPTH, DISENGAGE_SHAPE = 0.65, 0.85, 0.6
SPELL_P, SPELL_DAYS, SPELL_FACTOR = 1 / 150, (4, 15), 0.25  # quiet spells (holidays) for all
MESSY_SHARE = 0.08
NON_ISO_SHARE = {landing.SUBSCRIPTIONS: 0.05, landing.USAGE: 0.01}
DUPLICATE_P = {landing.SUBSCRIPTIONS: 0.15, landing.USAGE: 0.3, landing.TICKETS: 0.05}
BAD_PER_DAY = {landing.SUBSCRIPTIONS: 0.25, landing.USAGE: 0.3, landing.TICKETS: 0.05}
_SIGNUP, _RENEWAL, _PLAN_CHANGE, _DOWNGRADE, _CANCEL, _RETRY, _REACTIVATE = range(7)
_NONE = -(10**6)  # "no such day" in the int day arrays: always in the past
_WRITERS = {
    landing.SUBSCRIPTIONS: lambda frame, path: frame.write_csv(path, float_precision=2),
    landing.USAGE: lambda frame, path: frame.write_ndjson(path),
    landing.TICKETS: lambda frame, path: frame.write_parquet(path),
}
_TRUTH = ("true_churners", "involuntary_cancellations", "reversed_cancellations", "downgrades")


@dataclass(frozen=True)
class ChurnGenerationSummary:
    """What one generation wrote, with every defect and the ground truth, for reconciliation.

    Row counts are rows as written (duplicates and bad rows included). ``true_churners`` and the
    cancellation counts cover events written in the window; ``truth`` (not printed) has one row
    per account: signup date, plan and discount at signup, final plan, ``churn_date`` (the true
    cancellation, null if none), involuntary and reversed cancellation counts.
    """

    customers: int
    first_day: date
    last_day: date
    files_written: int
    subscription_rows: int
    usage_rows: int
    ticket_rows: int
    signups_in_window: int
    true_churners: int
    involuntary_cancellations: int
    reversed_cancellations: int
    downgrades: int
    active_customer_days: int
    duplicates: dict[str, int]
    bad_rows: dict[str, dict[str, int]]
    messy_spellings: dict[str, int]
    non_iso_timestamps: dict[str, int]
    truth: pl.DataFrame = field(repr=False, compare=False)

    @property
    def cancellations(self) -> int:
        return self.true_churners + self.involuntary_cancellations

    @property
    def reversed_share(self) -> float:
        """Share of cancellations reactivated within a month: what a naive label gets wrong."""
        return self.reversed_cancellations / max(self.cancellations, 1)

    @property
    def monthly_churn_rate(self) -> float:
        """True churners per active customer-month (30.44 days)."""
        return self.true_churners / max(self.active_customer_days / 30.44, 1.0)


@dataclass
class _Book:
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
    # State: flags, then days (``_NONE`` when unset), then ground-truth counts.
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


@dataclass
class _Run:
    home: ProjectHome
    rng: np.random.Generator
    book: _Book
    start: date
    tally: Counter[str]
    events: list[tuple[np.ndarray, ...]] = field(default_factory=list)


def generate_churn(
    home: ProjectHome, *, customers: int, days: int, start: date, seed: int
) -> ChurnGenerationSummary:
    """Write ``days`` days of subscription, usage and ticket files from ``start``."""
    if customers < 1 or days < 1:
        raise ValueError(f"customers and days must be at least 1, got {customers} and {days}")
    rng = np.random.default_rng(seed)
    run = _Run(home, rng, _new_book(rng, customers, days, start), start, Counter())
    _seed_leavers(run)
    for t in range(days):
        day = start + timedelta(days=t)
        _lifecycle(run, t, day)
        _land(run, landing.SUBSCRIPTIONS, day, t, _subscription_frame(run))
        _write_tickets(run, t, day)
        _write_usage(run, t, day)
        run.book.frustration *= FRUSTRATION_DECAY
    return _summary(run, customers, days)


def _summary(run: _Run, customers: int, days: int) -> ChurnGenerationSummary:
    book, tally = run.book, run.tally
    truth = pl.DataFrame(
        {
            "account_id": book.ids,
            "signup_date": [run.start + timedelta(days=int(d)) for d in book.signup],
            "signup_plan": pl.Series(PLANS).gather(book.signup_plan),
            "signup_discount_pct": np.round(book.signup_discount * 100).astype(np.int64),
            "plan": pl.Series(PLANS).gather(book.plan),
            "churn_date": [
                run.start + timedelta(days=int(d)) if d >= 0 else None for d in book.churn_day
            ],
            "involuntary_cancellations": book.involuntary,
            "reversed_cancellations": book.reversed,
        }
    )
    sources = tuple(BAD_ROW_KINDS)
    return ChurnGenerationSummary(
        customers=customers,
        first_day=run.start,
        last_day=run.start + timedelta(days=days - 1),
        files_written=tally["files_written"],
        subscription_rows=tally[f"{landing.SUBSCRIPTIONS}_rows"],
        usage_rows=tally[f"{landing.USAGE}_rows"],
        ticket_rows=tally[f"{landing.TICKETS}_rows"],
        signups_in_window=int(((book.signup >= 0) & (book.signup < days)).sum()),
        **{name: tally[name] for name in _TRUTH},
        active_customer_days=tally["active_customer_days"],
        duplicates={s: tally[f"{s}_duplicates"] for s in sources},
        bad_rows={s: {k: tally[f"{s}.{k}"] for k in BAD_ROW_KINDS[s]} for s in sources},
        messy_spellings={k: tally[f"spelling.{k}"] for k in ("event_type", "plan", "category")},
        non_iso_timestamps={s: tally[f"non_iso.{s}"] for s in NON_ISO_SHARE},
        truth=truth,
    )


def _prices(rng: np.random.Generator, plan: np.ndarray) -> np.ndarray:
    """List MRR of each plan (before discount): a few price points per plan, seat-based above."""
    picks = rng.random(plan.size)
    return np.array(
        [PLAN_PRICES[p][int(u * len(PLAN_PRICES[p]))] for p, u in zip(plan, picks, strict=True)]
    )


def _new_book(rng: np.random.Generator, n: int, days: int, start: date) -> _Book:
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
    return _Book(
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
        mrr=_prices(rng, plan),
        discount=discount,
        frustration=np.zeros(n),
        churn_day=np.full(n, _NONE),
        involuntary=np.zeros(n, dtype=np.int64),
        reversed=np.zeros(n, dtype=np.int64),
        **{name: np.zeros(n, dtype=bool) for name in _FLAGS},
        **{name: np.full(n, _NONE) for name in _DAYS},
    )


def _hazard(book: _Book, idx: np.ndarray, t: int) -> np.ndarray:
    """Daily probability of deciding to leave, for customers ``idx``."""
    h = BASE_HAZARD * book.risk[idx] * PLAN_HAZARD[book.plan[idx]]
    h = h * (1 - DISCOUNT_EFFECT * book.discount[idx])
    h = h * np.where(t - book.signup[idx] < EARLY_TENURE_DAYS, EARLY_TENURE_HAZARD, 1.0)
    h = h * np.where(book.downgraded[idx], DOWNGRADED_HAZARD, 1.0)
    return h * np.exp(FRUSTRATION_WEIGHT * book.frustration[idx])


def _decide(run: _Run, idx: np.ndarray, t: int, elapsed: np.ndarray) -> None:
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
    book.downgrade_day[idx] = np.where(drops & (when > t), when, _NONE)


def _seed_leavers(run: _Run) -> None:
    """Accounts already on their way out at ``start`` (steady state), so churn starts at once."""
    book, rng = run.book, run.rng
    old = np.flatnonzero(book.signup < 0)
    book.active[old] = True
    mean_lead = sum(LEAD_DAYS) / 2
    chosen = old[rng.random(old.size) < _hazard(book, old, 0) * mean_lead]
    _decide(run, chosen, 0, rng.integers(0, LEAD_DAYS[1], chosen.size))


def _emit(run: _Run, idx: np.ndarray, kind: int, t: int) -> None:
    """Queue subscription events of ``idx`` with their plan, MRR and discount as of now."""
    if idx.size == 0:
        return
    book = run.book
    sec = book.signup_sec[idx] if kind == _SIGNUP else run.rng.integers(0, 86400, idx.size)
    kinds, day = np.full(idx.size, kind), np.full(idx.size, t)
    run.events.append((idx, kinds, day, sec, book.plan[idx], book.mrr[idx], book.discount[idx]))


def _lifecycle(run: _Run, t: int, day: date) -> None:
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
    book.retry_day[gone] = book.react_day[gone] = _NONE
    run.tally["true_churners"] += gone.size
    run.tally["active_customer_days"] += int(book.active.sum())


def _move_plans(run: _Run, t: int) -> None:
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
        book.mrr[idx] = _prices(rng, book.plan[idx])
        _emit(run, idx, kind, t)
    book.downgraded[down] = True
    run.tally["downgrades"] += down.size


def _renew(run: _Run, t: int, day: date) -> None:
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
    book.cancel_day[saved] = book.downgrade_day[saved] = _NONE
    _emit(run, paid, _RENEWAL, t)


def _timestamps(start: date, day: np.ndarray, sec: np.ndarray) -> pl.Series:
    stamps = np.datetime64(start, "us") + (day * 86400 + sec).astype("timedelta64[s]")
    return pl.Series(stamps.astype("datetime64[us]"))


def _next_ids(run: _Run, prefix: str, n: int) -> list[str]:
    """Sequential ids (``EV00000001``) across the whole run: unique, like a billing system's."""
    first = run.tally[f"seq.{prefix}"]
    run.tally[f"seq.{prefix}"] += n
    return [f"{prefix}{first + i + 1:08d}" for i in range(n)]


def _subscription_frame(run: _Run) -> pl.DataFrame:
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
            "event_id": _next_ids(run, "EV", order.size),
            "account_id": run.book.ids.gather(cust[order]),
            "event_type": pl.Series(SUBSCRIPTION_EVENTS).gather(kind[order]),
            "event_ts": _timestamps(run.start, day[order], sec[order]).dt.strftime(ISO_FORMAT),
            "plan": pl.Series(PLANS).gather(plan[order]),
            "mrr": mrr[order],
            "discount_pct": np.round(discount[order] * 100).astype(np.int64),
        },
        schema=schema,
    )


def _land(run: _Run, source: str, day: date, t: int, frame: pl.DataFrame) -> None:
    """Inject today's defects into a clean, canonical frame, then publish it."""
    bad = _bad_rows(run, source, frame, t)
    messy = {
        column: _respell(run, frame[column], spellings, column)
        for column, spellings in _SPELLINGS.items()
        if column in frame.columns
    }
    if source in NON_ISO_SHARE:
        ts_col = _KEYS[source][2]
        messy[ts_col] = _reformat(run, frame[ts_col], source)
    frame = _with_duplicates(run, source, frame.with_columns(**messy))
    path = _PATHS[source](run.home, day)
    publish(path, partial(_WRITERS[source], pl.concat([frame, bad])))
    run.tally["files_written"] += 1
    run.tally[f"{source}_rows"] += frame.height + bad.height


def _respell(
    run: _Run, values: pl.Series, spellings: dict[str, tuple[str, ...]], family: str
) -> pl.Series:
    """A share of values replaced by one of their variants, as a hand-kept export has them."""
    picked = np.flatnonzero(run.rng.random(values.len()) < MESSY_SHARE)
    picks = run.rng.random(picked.size)
    variants = [
        spellings[values[int(i)]][int(u * len(spellings[values[int(i)]]))]
        for i, u in zip(picked, picks, strict=True)
    ]
    run.tally[f"spelling.{family}"] += picked.size
    return values.scatter(picked, variants) if picked.size else values


def _reformat(run: _Run, iso: pl.Series, source: str) -> pl.Series:
    """A share of ISO timestamps rewritten as ``NON_ISO_FORMAT`` (a second export tool)."""
    picked = np.flatnonzero(run.rng.random(iso.len()) < NON_ISO_SHARE[source])
    run.tally[f"non_iso.{source}"] += picked.size
    if picked.size == 0:
        return iso
    other = iso.gather(picked).str.to_datetime(ISO_FORMAT).dt.strftime(NON_ISO_FORMAT)
    return iso.scatter(picked, other)


def _with_duplicates(run: _Run, source: str, frame: pl.DataFrame) -> pl.DataFrame:
    """One to three rows re-sent verbatim at the end, as a retried upload does."""
    if run.rng.random() >= DUPLICATE_P[source] or frame.height == 0:
        return frame
    n = min(int(run.rng.integers(1, 4)), frame.height)
    rows = np.sort(run.rng.choice(frame.height, n, replace=False))
    run.tally[f"{source}_duplicates"] += n
    return pl.concat([frame, frame[rows]])


def _bad_rows(run: _Run, source: str, frame: pl.DataFrame, t: int) -> pl.DataFrame:
    """Extra rows copied from today's clean ones, each with one defect and a fresh id."""
    kinds = BAD_ROW_KINDS[source]
    counts = run.rng.poisson(BAD_PER_DAY[source] / len(kinds), len(kinds)) + (t == 0)
    if frame.height == 0:
        return frame
    id_col, customer_col, ts_col = _KEYS[source]
    defects = {
        "bad_timestamp": lambda n: pl.Series(ts_col, run.rng.choice(BAD_TIMESTAMPS, n), pl.String),
        "negative_mrr": lambda _: -pl.col("mrr"),
        "unknown_event_type": lambda n: pl.Series(
            "event_type", run.rng.choice(UNKNOWN_EVENT_TYPES, n), pl.String
        ),
        "missing_customer_id": lambda _: pl.lit(None, pl.String).alias(customer_col),
    }
    parts = []
    for kind, n in zip(kinds, counts.tolist(), strict=True):
        rows = frame[np.sort(run.rng.choice(frame.height, n))].with_columns(defects[kind](n))
        ids = pl.Series(id_col, _fresh_ids(run, source, n), pl.String)
        parts.append(rows.with_columns(ids))
        run.tally[f"{source}.{kind}"] += n
    return pl.concat(parts)


def _fresh_ids(run: _Run, source: str, n: int) -> list[str]:
    if source == landing.USAGE:
        return _uuids(run.rng, n).to_list()
    return _next_ids(run, "EV" if source == landing.SUBSCRIPTIONS else "TK", n)


def _uuids(rng: np.random.Generator, n: int) -> pl.Series:
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


def _write_tickets(run: _Run, t: int, day: date) -> None:
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
            "ticket_id": _next_ids(run, "TK", who.size),
            "customer_ref": book.ids.gather(who[order]),
            "opened_at": _timestamps(run.start, np.full(who.size, t), sec[order]),
            "category": pl.Series(TICKET_CATEGORIES, dtype=pl.String).gather(cat[order]),
            "priority": pl.Series(PRIORITIES, dtype=pl.String).gather(urgency[order]),
            "resolution_hours": hours[order],
        },
        schema_overrides={"ticket_id": pl.String, "opened_at": pl.Datetime("us")},
    )
    _land(run, landing.TICKETS, day, t, frame)


def _engagement(run: _Run, t: int, live: np.ndarray) -> np.ndarray:
    """Activity multiplier of ``live`` accounts: 1 when settled, falling to
    ``1 - DISENGAGE_DEPTH`` between the decision to leave and the cancellation (fastest at
    first); a quiet spell (holiday) cuts anyone's activity for a week or two, so that a dip
    alone is not churn."""
    book, rng = run.book, run.rng
    starts = live[(rng.random(live.size) < SPELL_P) & (book.spell_end[live] <= t)]
    book.spell_end[starts] = t + rng.integers(*SPELL_DAYS, starts.size)
    span = np.maximum(book.cancel_day[live] - book.decided[live], 1)
    progress = np.clip((t - book.decided[live]) / span, 0.0, 1.0)
    m = np.where(book.leaving[live], 1 - DISENGAGE_DEPTH * progress**DISENGAGE_SHAPE, 1.0)
    return m * np.where(book.spell_end[live] > t, SPELL_FACTOR, 1.0)


def _usage_events(run: _Run, t: int, day: date) -> tuple[np.ndarray, ...]:
    """Logins, each with a session and feature uses; engagement scales all three (session
    length, number and breadth of features), time of day around each account's habit."""
    book, rng = run.book, run.rng
    live = np.flatnonzero(book.active)
    m = _engagement(run, t, live)
    weekday = 1.0 if day.weekday() < 5 else WEEKEND_FACTOR
    logins = rng.poisson(book.logins[live] * m * weekday)
    who, mw = np.repeat(live, logins), np.repeat(m, logins)
    earliest = np.where(book.signup[who] == t, book.signup_sec[who] + 60, 0)
    begin = (rng.normal(book.hour[who], 2.5) * 3600).astype(np.int64) % 86340
    begin = np.maximum(begin, earliest)
    length = rng.lognormal(np.log(book.session[who] * (0.2 + 0.8 * mw)), 0.7)
    length = np.clip(length, 10, 4 * 3600).astype(np.int64)
    s = np.repeat(np.arange(who.size), rng.poisson(book.feature_uses[who] * (0.3 + 0.7 * mw)))
    width = np.maximum(1, np.ceil(book.breadth[who[s]] * mw[s])).astype(np.int64)
    feature = book.order[who[s], (rng.random(s.size) * width).astype(np.int64)]
    used_at = np.minimum(begin[s] + (rng.random(s.size) * length[s]).astype(np.int64), 86399)
    none_l, none_s = np.full(who.size, -1), np.full(s.size, -1)
    cust = np.concatenate([who, who, who[s]])
    name = np.repeat([0, 1, 2], [who.size, who.size, s.size])
    sec = np.concatenate([begin, begin, used_at])
    seconds = np.concatenate([none_l, length, none_s])
    feat = np.concatenate([none_l, none_l, feature])
    order = np.lexsort((name, cust, sec))
    return cust[order], name[order], sec[order], seconds[order], feat[order]


def _write_usage(run: _Run, t: int, day: date) -> None:
    cust, name, sec, seconds, feat = _usage_events(run, t, day)
    n = cust.size
    frame = pl.DataFrame(
        {
            "event_uuid": _uuids(run.rng, n),
            "user_id": run.book.ids.gather(cust),
            "event_name": pl.Series(USAGE_EVENTS[:3]).gather(name),
            "timestamp": _timestamps(run.start, np.full(n, t), sec).dt.strftime(ISO_FORMAT),
            "session_seconds": pl.Series(seconds, dtype=pl.Int64).scatter(
                np.flatnonzero(seconds < 0), None
            ),
            "feature_name": pl.Series([*FEATURES, None], dtype=pl.String).gather(
                np.where(feat < 0, len(FEATURES), feat)
            ),
        },
        schema_overrides={"event_uuid": pl.String, "user_id": pl.String},
    )
    _land(run, landing.USAGE, day, t, frame)
