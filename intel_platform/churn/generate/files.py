"""Where and how each source's daily file is written: subscriptions as CSV, usage as NDJSON,
tickets as Parquet, each published whole (never a half-written file in the landing zone).
"""

from datetime import date
from functools import partial

import polars as pl

from intel_platform.churn import landing
from intel_platform.churn.generate.defects import with_defects
from intel_platform.churn.generate.run import Run
from intel_platform.core.landing import publish

_PATHS = {landing.SUBSCRIPTIONS: landing.subscriptions_file, landing.USAGE: landing.usage_file,
          landing.TICKETS: landing.tickets_file}  # fmt: skip
_WRITERS = {
    landing.SUBSCRIPTIONS: lambda frame, path: frame.write_csv(path, float_precision=2),
    landing.USAGE: lambda frame, path: frame.write_ndjson(path),
    landing.TICKETS: lambda frame, path: frame.write_parquet(path),
}


def land(run: Run, source: str, day: date, t: int, frame: pl.DataFrame) -> None:
    """Inject today's defects into a clean, canonical frame, then publish it."""
    frame = with_defects(run, source, frame, t)
    path = _PATHS[source](run.home, day)
    publish(path, partial(_WRITERS[source], frame))
    run.tally["files_written"] += 1
    run.tally[f"{source}_rows"] += frame.height
