"""The defects real exports carry, injected into each day's clean, canonical frame and counted:
variant spellings, a second timestamp format, rows re-sent verbatim, and bad rows.

Why extra rows and never corrupted real events: the ground truth survives quarantine.
"""

import numpy as np
import polars as pl

from intel_platform.churn import landing
from intel_platform.churn.generate.run import ISO_FORMAT, Run, next_ids, uuids

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
NON_ISO_FORMAT = "%Y/%m/%d %H:%M:%S"
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
MESSY_SHARE = 0.08
NON_ISO_SHARE = {landing.SUBSCRIPTIONS: 0.05, landing.USAGE: 0.01}
DUPLICATE_P = {landing.SUBSCRIPTIONS: 0.15, landing.USAGE: 0.3, landing.TICKETS: 0.05}
BAD_PER_DAY = {landing.SUBSCRIPTIONS: 0.25, landing.USAGE: 0.3, landing.TICKETS: 0.05}


def with_defects(run: Run, source: str, frame: pl.DataFrame, t: int) -> pl.DataFrame:
    """Today's clean, canonical frame as the export has it: respelled, reformatted, with
    duplicates re-sent at its end, then the bad rows."""
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
    return pl.concat([frame, bad])


def _respell(
    run: Run, values: pl.Series, spellings: dict[str, tuple[str, ...]], family: str
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


def _reformat(run: Run, iso: pl.Series, source: str) -> pl.Series:
    """A share of ISO timestamps rewritten as ``NON_ISO_FORMAT`` (a second export tool)."""
    picked = np.flatnonzero(run.rng.random(iso.len()) < NON_ISO_SHARE[source])
    run.tally[f"non_iso.{source}"] += picked.size
    if picked.size == 0:
        return iso
    other = iso.gather(picked).str.to_datetime(ISO_FORMAT).dt.strftime(NON_ISO_FORMAT)
    return iso.scatter(picked, other)


def _with_duplicates(run: Run, source: str, frame: pl.DataFrame) -> pl.DataFrame:
    """One to three rows re-sent verbatim at the end, as a retried upload does."""
    if run.rng.random() >= DUPLICATE_P[source] or frame.height == 0:
        return frame
    n = min(int(run.rng.integers(1, 4)), frame.height)
    rows = np.sort(run.rng.choice(frame.height, n, replace=False))
    run.tally[f"{source}_duplicates"] += n
    return pl.concat([frame, frame[rows]])


def _bad_rows(run: Run, source: str, frame: pl.DataFrame, t: int) -> pl.DataFrame:
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


def _fresh_ids(run: Run, source: str, n: int) -> list[str]:
    if source == landing.USAGE:
        return uuids(run.rng, n).to_list()
    return next_ids(run, "EV" if source == landing.SUBSCRIPTIONS else "TK", n)
