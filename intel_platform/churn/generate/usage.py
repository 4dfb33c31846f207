"""Product usage of live accounts: logins, sessions and feature uses, scaled by engagement.

Why engagement: a leaving account disengages before it cancels (the signal the models learn),
while a quiet spell (holiday) dips anyone's activity, so that a dip alone is not churn.
"""

from datetime import date

import numpy as np
import polars as pl

from intel_platform.churn import landing
from intel_platform.churn.contracts import USAGE_EVENTS
from intel_platform.churn.generate.customers import FEATURES
from intel_platform.churn.generate.files import land
from intel_platform.churn.generate.run import ISO_FORMAT, Run, timestamps, uuids

# Weekend volume stays above half the weekday level: the usage volume check compares each day
# with the median of the 14 before it, and a plain weekend must not look like a dropped batch.
WEEKEND_FACTOR, DISENGAGE_DEPTH, DISENGAGE_SHAPE = 0.65, 0.85, 0.6
SPELL_P, SPELL_DAYS, SPELL_FACTOR = 1 / 150, (4, 15), 0.25  # quiet spells (holidays) for all


def _engagement(run: Run, t: int, live: np.ndarray) -> np.ndarray:
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


def _usage_events(run: Run, t: int, day: date) -> tuple[np.ndarray, ...]:
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


def write_usage(run: Run, t: int, day: date) -> None:
    cust, name, sec, seconds, feat = _usage_events(run, t, day)
    n = cust.size
    frame = pl.DataFrame(
        {
            "event_uuid": uuids(run.rng, n),
            "user_id": run.book.ids.gather(cust),
            "event_name": pl.Series(USAGE_EVENTS[:3]).gather(name),
            "timestamp": timestamps(run.start, np.full(n, t), sec).dt.strftime(ISO_FORMAT),
            "session_seconds": pl.Series(seconds, dtype=pl.Int64).scatter(
                np.flatnonzero(seconds < 0), None
            ),
            "feature_name": pl.Series([*FEATURES, None], dtype=pl.String).gather(
                np.where(feat < 0, len(FEATURES), feat)
            ),
        },
        schema_overrides={"event_uuid": pl.String, "user_id": pl.String},
    )
    land(run, landing.USAGE, day, t, frame)
