"""What one generation wrote, with every defect and the ground truth, for reconciliation."""

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from intel_platform.churn import landing
from intel_platform.churn.contracts import PLANS
from intel_platform.churn.generate.defects import BAD_ROW_KINDS, NON_ISO_SHARE
from intel_platform.churn.generate.run import Run

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


def summarize(run: Run, customers: int, days: int) -> ChurnGenerationSummary:
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
