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

Modules: ``customers`` (the book: traits and state arrays), ``run`` (what a generation carries,
ids and timestamps), ``lifecycle`` (hazard, decisions, plan moves, renewals, billing rows),
``tickets`` and ``usage`` (event emission), ``defects`` (spellings, formats, duplicates, bad
rows), ``files`` (writing and publishing), ``summary`` (counts and ground truth).
"""

from collections import Counter
from datetime import date, timedelta

import numpy as np

from intel_platform.churn import landing
from intel_platform.churn.generate.customers import FEATURES, new_book
from intel_platform.churn.generate.defects import (
    BAD_ROW_KINDS,
    BAD_TIMESTAMPS,
    CATEGORY_SPELLINGS,
    EVENT_TYPE_SPELLINGS,
    NON_ISO_FORMAT,
    PLAN_SPELLINGS,
    UNKNOWN_EVENT_TYPES,
)
from intel_platform.churn.generate.files import land
from intel_platform.churn.generate.lifecycle import (
    FRUSTRATION_DECAY,
    bill_day,
    seed_leavers,
    subscription_frame,
)
from intel_platform.churn.generate.run import ISO_FORMAT, Run
from intel_platform.churn.generate.summary import ChurnGenerationSummary, summarize
from intel_platform.churn.generate.tickets import write_tickets
from intel_platform.churn.generate.usage import write_usage
from intel_platform.core.home import ProjectHome

__all__ = [
    "BAD_ROW_KINDS", "BAD_TIMESTAMPS", "CATEGORY_SPELLINGS", "EVENT_TYPE_SPELLINGS", "FEATURES",
    "ISO_FORMAT", "NON_ISO_FORMAT", "PLAN_SPELLINGS", "UNKNOWN_EVENT_TYPES",
    "ChurnGenerationSummary", "generate_churn",
]  # fmt: skip


def generate_churn(
    home: ProjectHome, *, customers: int, days: int, start: date, seed: int
) -> ChurnGenerationSummary:
    """Write ``days`` days of subscription, usage and ticket files from ``start``."""
    if customers < 1 or days < 1:
        raise ValueError(f"customers and days must be at least 1, got {customers} and {days}")
    rng = np.random.default_rng(seed)
    run = Run(home, rng, new_book(rng, customers, days, start), start, Counter())
    seed_leavers(run)
    for t in range(days):
        day = start + timedelta(days=t)
        bill_day(run, t, day)
        land(run, landing.SUBSCRIPTIONS, day, t, subscription_frame(run))
        write_tickets(run, t, day)
        write_usage(run, t, day)
        run.book.frustration *= FRUSTRATION_DECAY
    return summarize(run, customers, days)
