"""Churn features: one row per active customer x snapshot, point-in-time, one definition for
training (history snapshots) and scoring (the snapshot after ``data_as_of``).

Grain and invariants
- Rows are ``labels.active_population``: the same (customer_id, snapshot_date) as the labels.
- A snapshot T reads only events dated before T: windows are [T - w, T), "latest known" values
  come from the newest event before T. Changing any event on day T or later cannot change T.
- Missing is null, not zero (DOMAIN.md story 3): never logged in -> ``days_since_last_login``
  null; no timed session -> ``avg_session_minutes_30d`` null; no ticket feed at all -> ticket
  counts null (0 when the feed exists and the customer opened none); no billing feed ->
  plan, billing counts, discount and MRR null; ``amount`` never filled -> activity amount null.
  A feed "exists" at T when it has an event before T: the harmonized layer writes an empty
  table for a source a deployment does not have, and a feed that starts in June says nothing
  about May, so its counts are null before its first event, not zero.
- ``plan_changes_90d`` counts plan changes and downgrades (a downgrade is a plan change);
  ``downgrades_90d`` the downgrades alone.

Why it is written this way: 2,000 customers x 52 snapshots x 2 M events must take seconds. Events
are aggregated once per customer-day, turned into per-customer running sums, and every window
is two as-of lookups (the running sum before T minus the one before T - w): no loop over
snapshots. Distinct features are the only non-additive count: each customer-feature-day is
exploded onto the few snapshots whose 30-day window holds it.
"""

__all__ = [
    "CATEGORICAL_FEATURES",
    "FEATURE_COLUMNS",
    "FEATURE_SCHEMA",
    "KEY",
    "build_snapshot_features",
    "customer_snapshot",
    "scoring_snapshot",
]

from collections.abc import Sequence
from datetime import date

import dagster as dg
import pandera.polars as pa
import polars as pl
from dagster_duckdb import DuckDBResource
from pandera.api.polars.model_config import BaseConfig

from intel_platform.churn.snapshots import (
    HARMONIZED,
    HARMONIZED_TABLES,
    KEYS,
    SnapshotConfig,
    active_population,
    asof,
    data_as_of,
    has_rows,
    read_harmonized,
    scoring_snapshot,
)
from intel_platform.core.checks import CheckDefinition, contract_outcome
from intel_platform.core.metadata import markdown_table, table_metadata
from intel_platform.core.warehouse import replace_table, table_name

FEATURE_SCHEMA: dict[str, pl.DataType] = {
    "days_since_last_login": pl.Float32(),
    "logins_7d": pl.Int16(),
    "logins_30d": pl.Int16(),
    "sessions_7d": pl.Int16(),
    "sessions_30d": pl.Int16(),
    "login_change_wow": pl.Float32(),
    "login_trend_14d": pl.Float32(),
    "avg_session_minutes_30d": pl.Float32(),
    "distinct_features_30d": pl.Int16(),
    "tickets_30d": pl.Int16(),
    "refund_requests_30d": pl.Int16(),
    "plan_code": pl.Int8(),
    "plan_changes_90d": pl.Int16(),
    "downgrades_90d": pl.Int16(),
    "billing_retries_30d": pl.Int16(),
    "tenure_days": pl.Int32(),
    "discount_pct": pl.Float32(),
    "mrr": pl.Float32(),
    "activity_amount_30d": pl.Float32(),
}
FEATURE_COLUMNS = tuple(FEATURE_SCHEMA)
CATEGORICAL_FEATURES = ("plan_code",)  # Plan Enum position: basic 0, pro 1, enterprise 2
TABLE_SCHEMA = {"customer_id": pl.String(), "snapshot_date": pl.Date(), **FEATURE_SCHEMA}
DISTINCT_WINDOW = 30
TREND_BASELINE = 90  # days: the last 14 days' login rate against the rest of these

_T = pl.col("snapshot_date").cast(pl.Int32)
_D = pl.col("date").cast(pl.Int32)
_INT16_MAX = 32_767


def _daily(frame: pl.DataFrame, **sums: pl.Expr) -> pl.DataFrame:
    """Per customer-day sums of ``sums`` (masks applied before the group-by: fast path)."""
    return (
        frame.select("customer_id", _d=_D, **sums)
        .group_by("customer_id", "_d")
        .agg(pl.col(list(sums)).sum())
    )


def _windows(grid: pl.DataFrame, daily: pl.DataFrame, windows: Sequence[int]) -> pl.DataFrame:
    """Adds ``<column>_<w>``: the column's sum over [T - w, T) per row of ``grid``, as the
    running sum before T minus the running sum before T - w. Null, not zero, while the feed
    had not started (no event of it before T; all rows when it has none at all)."""
    columns = [c for c in daily.columns if c not in ("customer_id", "_d")]
    feed_start = daily["_d"].min()
    if feed_start is None:
        return grid.with_columns(
            pl.lit(None, pl.Float64).alias(f"{c}_{w}") for c in columns for w in windows
        )
    running = daily.sort("customer_id", "_d").with_columns(
        pl.col(columns).cast(pl.Float64).cum_sum().over("customer_id")
    )
    out = asof(grid, running.rename({c: f"_now_{c}" for c in columns}), _T - 1)
    for w in windows:
        out = asof(out, running.rename({c: f"_{w}_{c}" for c in columns}), _T - w - 1)
    return out.select(
        *grid.columns,
        *(
            pl.when(_T > feed_start)
            .then(pl.col(f"_now_{c}").fill_null(0) - pl.col(f"_{w}_{c}").fill_null(0))
            .round(6)  # a difference of running float sums: no -1e-12 for an empty window
            .alias(f"{c}_{w}")
            for c in columns
            for w in windows
        ),
    )


def _distinct_features(grid: pl.DataFrame, usage: pl.DataFrame) -> pl.DataFrame:
    """Adds ``distinct_30``: distinct features used in [T - 30, T). A customer-feature-day d
    is in the window of snapshots T in (d, d + 30]; it is credited only with those its previous
    use p did not already cover, T in (max(d, p + 30), d + 30], so each customer x feature x
    snapshot is counted exactly once, with no unique over the exploded rows. Snapshots are
    found by binary search in the sorted snapshot days."""
    snaps = grid["snapshot_date"].unique().sort().cast(pl.Int32)
    same = (pl.col("customer_id") == pl.col("customer_id").shift(1)) & (
        pl.col("feature") == pl.col("feature").shift(1)
    )
    days = (
        usage.filter(pl.col("feature").is_not_null())
        .select("customer_id", "feature", _d=_D)
        .unique()
        .sort("customer_id", "feature", "_d")
        .with_columns(_from=pl.when(same).then(pl.col("_d").shift(1) + DISTINCT_WINDOW))
    )
    start = pl.max_horizontal("_d", "_from")
    bounds = days.select(
        "customer_id",
        _lo=pl.lit(snaps).search_sorted(start, side="right"),
        _hi=pl.lit(snaps).search_sorted(pl.col("_d") + DISTINCT_WINDOW, side="right"),
    ).filter(pl.col("_hi") > pl.col("_lo"))
    counts = (
        bounds.select("customer_id", _i=pl.int_ranges("_lo", "_hi", dtype=pl.UInt32))
        .explode("_i")
        .group_by("customer_id", "_i")
        .agg(distinct_30=pl.len())
        .select("customer_id", "distinct_30", _s=pl.lit(snaps).gather(pl.col("_i")))
    )
    return grid.join(
        counts, left_on=["customer_id", _T], right_on=["customer_id", "_s"], how="left"
    ).with_columns(pl.col("distinct_30").fill_null(0))


def _usage_features(grid: pl.DataFrame, usage: pl.DataFrame) -> pl.DataFrame:
    event, seconds = pl.col("event_type"), pl.col("session_seconds").cast(pl.Float64)
    session = event == "session"
    daily = _daily(
        usage,
        # An imported log's "activity" is its only engagement signal: it counts as a login.
        logins=event.is_in(["login", "activity"]).cast(pl.Int32),
        sessions=session.cast(pl.Int32),
        secs=pl.when(session).then(seconds),
        timed=(session & seconds.is_not_null()).cast(pl.Int32),
        amount=pl.col("amount").cast(pl.Float64),
    )
    out = _windows(grid, daily, (7, 14, 30, TREND_BASELINE))
    logins = daily.filter(pl.col("logins") > 0).select("customer_id", "_d", last_login="_d")
    return _distinct_features(asof(out, logins, _T - 1), usage)


def _subscription_features(grid: pl.DataFrame, subscriptions: pl.DataFrame | None):
    """Plan-change, downgrade and billing-retry counts, and the latest known plan, discount
    and MRR (each the newest non-null value before T)."""
    source = subscriptions if has_rows(subscriptions) else None
    frame = source if source is not None else pl.DataFrame(schema={"customer_id": pl.String,
        "date": pl.Date, "event_type": pl.String})  # fmt: skip
    event = pl.col("event_type").cast(pl.String)
    daily = _daily(
        frame,
        changes=event.is_in(["plan_change", "downgrade"]).cast(pl.Int32),
        downgrades=(event == "downgrade").cast(pl.Int32),
        retries=(event == "billing_retry").cast(pl.Int32),
    )
    out = _windows(grid, daily, (30, 90))
    if source is None:
        return out.with_columns(plan=None, mrr=None, discount_pct=None)
    values = ("plan", "mrr", "discount_pct")
    latest = (
        source.sort("customer_id", "event_time")
        .with_columns(pl.col(values).forward_fill().over("customer_id"))
        .group_by("customer_id", "date")
        .agg(pl.col(values).last())
        .select("customer_id", *values, _d=_D)
    )
    return asof(out, latest, _T - 1).with_columns(pl.col("plan").to_physical())


def _ticket_features(grid: pl.DataFrame, tickets: pl.DataFrame | None) -> pl.DataFrame:
    frame = tickets if tickets is not None else pl.DataFrame(schema={"customer_id": pl.String,
        "date": pl.Date, "category": pl.String})  # fmt: skip
    daily = _daily(
        frame,
        tickets=pl.lit(1, pl.Int32),
        refunds=(pl.col("category").cast(pl.String) == "refund_request").cast(pl.Int32),
    )
    return _windows(grid, daily, (30,))


def _login_trend() -> pl.Expr:
    """The last 14 days' daily login rate against the customer's own rate over the rest of the
    last 90 days (or of its tenure, if shorter), minus one: -0.6 is "logins down 60 % in two
    weeks", whatever the customer's usual level. Null without a baseline (younger than 15 days,
    or no login before the last 14 days): a new customer is not a declining one."""
    baseline_days = (_T - pl.col("first_seen") - 14).clip(upper_bound=TREND_BASELINE - 14)
    baseline = (pl.col(f"logins_{TREND_BASELINE}") - pl.col("logins_14")) / baseline_days
    return pl.when((baseline_days > 0) & (baseline > 0)).then(
        pl.col("logins_14") / 14 / baseline - 1
    )


def _count(column: str) -> pl.Expr:
    return pl.col(column).clip(upper_bound=_INT16_MAX).cast(pl.Int16)


def build_snapshot_features(
    usage: pl.DataFrame,
    subscriptions: pl.DataFrame | None,
    tickets: pl.DataFrame | None,
    snapshots: Sequence[date] | pl.DataFrame,
    *,
    inactivity_days: int = 30,
) -> pl.DataFrame:
    """Features per active (customer_id, snapshot_date), sorted by (snapshot_date, customer_id):
    the keys then ``FEATURE_COLUMNS``. ``snapshots``: dates (the active population is derived,
    ``labels.active_population``) or a frame of (customer_id, snapshot_date) rows to use as is.
    History snapshots give training rows; ``scoring_snapshot(data_as_of)`` the rows to score."""
    if isinstance(snapshots, pl.DataFrame):
        keys = snapshots.select(*KEYS)
    else:
        keys = active_population(usage, subscriptions, snapshots, inactivity_days=inactivity_days)
    if keys.is_empty():
        return pl.DataFrame(schema=TABLE_SCHEMA)
    firsts = [usage.select("customer_id", "date")]
    if has_rows(subscriptions):
        firsts.append(subscriptions.select("customer_id", "date"))  # type: ignore[union-attr]
    first = pl.concat(firsts).group_by("customer_id").agg(first_seen=_D.min())
    grid = keys.select(*KEYS).join(first, on="customer_id", how="left")
    grid = _usage_features(grid, usage)
    grid = _ticket_features(_subscription_features(grid, subscriptions), tickets)
    has_amount = usage["amount"].null_count() < usage.height
    timed = pl.col("timed_30")
    prior = (pl.col("logins_14") - pl.col("logins_7")).clip(lower_bound=1)
    return (
        grid.select(
            *KEYS,
            days_since_last_login=_T - pl.col("last_login"),
            logins_7d=_count("logins_7"),
            logins_30d=_count("logins_30"),
            sessions_7d=_count("sessions_7"),
            sessions_30d=_count("sessions_30"),
            login_change_wow=(pl.col("logins_7") - (pl.col("logins_14") - pl.col("logins_7")))
            / prior,
            login_trend_14d=_login_trend(),
            avg_session_minutes_30d=pl.when(timed > 0).then(pl.col("secs_30") / timed / 60),
            distinct_features_30d=_count("distinct_30"),
            tickets_30d=_count("tickets_30"),
            refund_requests_30d=_count("refunds_30"),
            plan_code="plan",
            plan_changes_90d=_count("changes_90"),
            downgrades_90d=_count("downgrades_90"),
            billing_retries_30d=_count("retries_30"),
            tenure_days=_T - pl.col("first_seen"),
            discount_pct="discount_pct",
            mrr="mrr",
            activity_amount_30d=pl.col("amount_30") if has_amount else pl.lit(None),
        )
        .cast(TABLE_SCHEMA)
        .sort("snapshot_date", "customer_id")
    )  # type: ignore[arg-type]


# --- Dagster layer ----------------------------------------------------------------------------

KEY_PREFIX = ["churn", "features"]
KEY = dg.AssetKey([*KEY_PREFIX, "customer_snapshot"])
_COUNT = {"ge": 0, "nullable": True}


class FeatureModel(pa.DataFrameModel):
    """One row per customer x snapshot; counts, recency and tenure are never negative."""

    customer_id: str
    snapshot_date: pl.Date
    days_since_last_login: pl.Float32 = pa.Field(ge=0, nullable=True)
    logins_7d: pl.Int16 = pa.Field(ge=0)
    logins_30d: pl.Int16 = pa.Field(ge=0)
    sessions_7d: pl.Int16 = pa.Field(ge=0)
    sessions_30d: pl.Int16 = pa.Field(ge=0)
    login_change_wow: pl.Float32
    login_trend_14d: pl.Float32 = pa.Field(ge=-1, nullable=True)
    avg_session_minutes_30d: pl.Float32 = pa.Field(ge=0, nullable=True)
    distinct_features_30d: pl.Int16 = pa.Field(ge=0)
    tickets_30d: pl.Int16 = pa.Field(**_COUNT)
    refund_requests_30d: pl.Int16 = pa.Field(**_COUNT)
    plan_code: pl.Int8 = pa.Field(isin=[0, 1, 2], nullable=True)
    plan_changes_90d: pl.Int16 = pa.Field(**_COUNT)
    downgrades_90d: pl.Int16 = pa.Field(**_COUNT)
    billing_retries_30d: pl.Int16 = pa.Field(**_COUNT)
    tenure_days: pl.Int32 = pa.Field(ge=0)
    discount_pct: pl.Float32 = pa.Field(nullable=True)
    mrr: pl.Float32 = pa.Field(nullable=True)
    activity_amount_30d: pl.Float32 = pa.Field(nullable=True)

    class Config(BaseConfig):
        strict = True
        unique = list(KEYS)


CHECKS = [
    CheckDefinition(
        KEY,
        "features_contract",
        "Pandera: one row per customer x snapshot, counts >= 0, days since last login >= 0 or "
        "null (never logged in), tenure >= 0.",
        "A feature rule broke: read sample_rows, fix intel_platform/churn/features.py (with a "
        "test) and re-materialize; churn training and scoring wait meanwhile.",
    ),
]


@dg.asset(
    key=KEY, group_name="churn_features", owners=["team:churn"], code_version="1",
    deps=[dg.AssetKey([*HARMONIZED, n]) for n in HARMONIZED_TABLES],
    kinds={"polars", "duckdb"}, check_specs=[c.spec for c in CHECKS],
)  # fmt: skip
def customer_snapshot(config: SnapshotConfig, warehouse: DuckDBResource):
    """Point-in-time features per active customer x weekly snapshot, plus the scoring snapshot
    (the day after data_as_of) that scores read; the same function builds both."""
    with warehouse.get_connection() as conn:
        usage, subscriptions, tickets = read_harmonized(conn)
    as_of, snapshots = data_as_of(usage), config.snapshots(usage, subscriptions)
    if as_of is not None:
        snapshots = sorted({*snapshots, scoring_snapshot(as_of)})
    features = build_snapshot_features(usage, subscriptions, tickets, snapshots,
                                       inactivity_days=config.inactivity_days)  # fmt: skip
    with warehouse.get_connection() as conn:
        replace_table(conn, table_name(KEY), features)
    per_snapshot = features.group_by("snapshot_date").len("rows").sort("snapshot_date").tail(5)
    yield dg.MaterializeResult(metadata={
        **table_metadata(features.height, features.schema), "data_as_of": str(as_of),
        "scoring_snapshot": str(scoring_snapshot(as_of)) if as_of else "n/a",
        "snapshots": features["snapshot_date"].n_unique(),
        "customers": features["customer_id"].n_unique(),
        "rows_per_snapshot": dg.MetadataValue.md(markdown_table(per_snapshot)),
        "sources": ", ".join(n for n, f in (("usage", usage), ("subscriptions", subscriptions),
                                            ("tickets", tickets)) if f is not None),
    })  # fmt: skip
    yield CHECKS[0].result(contract_outcome(FeatureModel, features))
