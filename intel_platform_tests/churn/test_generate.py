"""The synthetic churn landing zone: layout, determinism, dynamics, every defect accounted."""

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from intel_platform.churn import landing
from intel_platform.churn.contracts import PLANS, SUBSCRIPTION_EVENTS, TICKET_CATEGORIES
from intel_platform.churn.generate import (
    BAD_ROW_KINDS,
    CATEGORY_SPELLINGS,
    EVENT_TYPE_SPELLINGS,
    FEATURES,
    ISO_FORMAT,
    NON_ISO_FORMAT,
    PLAN_SPELLINGS,
    UNKNOWN_EVENT_TYPES,
    ChurnGenerationSummary,
    generate_churn,
)
from intel_platform.core.home import ProjectHome

START = date(2024, 1, 1)
SHAPE = {"customers": 600, "days": 240, "start": START}
SEED = 7
USAGE_SCHEMA = {
    "event_uuid": pl.String, "user_id": pl.String, "event_name": pl.String,
    "timestamp": pl.String, "session_seconds": pl.Int64, "feature_name": pl.String,
}  # fmt: skip
DAY_IN_PATH = r"(\d{4}-\d{2}-\d{2})\.\w+$"
Generated = tuple[ProjectHome, ChurnGenerationSummary]


def _canonical(column: str, spellings: dict[str, tuple[str, ...]]) -> pl.Expr:
    return pl.col(column).replace({v: k for k, vs in spellings.items() for v in vs})


def _parsed(column: str) -> pl.Expr:
    """Both timestamp forms the generator writes; null for the deliberately broken ones."""
    return pl.coalesce(
        pl.col(column).str.to_datetime(ISO_FORMAT, strict=False),
        pl.col(column).str.to_datetime(NON_ISO_FORMAT, strict=False),
    )


def _files(home: ProjectHome) -> dict[str, bytes]:
    root = landing.landing_root(home)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    home = ProjectHome(tmp_path_factory.mktemp("home"))
    return home, generate_churn(home, seed=SEED, **SHAPE)


@pytest.fixture(scope="module")
def subscriptions(generated: Generated) -> pl.DataFrame:
    """Every subscription row as written (text), with the day of its file."""
    root = landing.landing_root(generated[0]) / landing.SUBSCRIPTIONS
    frame = pl.read_csv(str(root / "*.csv"), infer_schema=False, include_file_paths="path")
    return frame.with_columns(day=pl.col("path").str.extract(DAY_IN_PATH).str.to_date())


@pytest.fixture(scope="module")
def events(subscriptions: pl.DataFrame) -> pl.DataFrame:
    """Subscription events a harmonizer would keep: deduplicated, defect-free, canonical."""
    return (
        subscriptions.unique("event_id", keep="first", maintain_order=True)
        .with_columns(
            event_type=_canonical("event_type", EVENT_TYPE_SPELLINGS),
            plan=_canonical("plan", PLAN_SPELLINGS),
            time=_parsed("event_ts"),
            mrr=pl.col("mrr").cast(pl.Float64),
        )
        .filter(
            pl.col("event_type").is_in(SUBSCRIPTION_EVENTS),
            pl.col("account_id").is_not_null(),
            pl.col("time").is_not_null(),
            pl.col("mrr") >= 0,
        )  # fmt: skip
        .sort("time", "event_id")
    )


@pytest.fixture(scope="module")
def usage(generated: Generated) -> pl.DataFrame:
    root = landing.landing_root(generated[0]) / landing.USAGE
    frame = pl.scan_ndjson(str(root / "*.jsonl"), schema=USAGE_SCHEMA, include_file_paths="path")
    return frame.with_columns(day=pl.col("path").str.extract(DAY_IN_PATH).str.to_date()).collect()


@pytest.fixture(scope="module")
def tickets(generated: Generated) -> pl.DataFrame:
    root = landing.landing_root(generated[0]) / landing.TICKETS
    return pl.read_parquet(str(root / "*.parquet"))


@pytest.fixture(scope="module")
def truth(generated: Generated) -> pl.DataFrame:
    return generated[1].truth.with_columns(churned=pl.col("churn_date").is_not_null())


def test_same_seed_writes_byte_identical_files(tmp_path: Path):
    small = {"customers": 80, "days": 21, "start": START}
    first, again, other = (ProjectHome(tmp_path / name) for name in ("a", "b", "c"))
    summary = generate_churn(first, seed=SEED, **small)
    assert generate_churn(again, seed=SEED, **small) == summary
    assert _files(again) == _files(first)
    generate_churn(other, seed=SEED + 1, **small)
    mine, theirs = _files(first), _files(other)
    usage = [name for name in mine if name.startswith(landing.USAGE)]
    assert all(mine[name] != theirs[name] for name in usage)


def test_every_day_has_three_files_with_the_landing_columns(generated: Generated):
    home, summary = generated
    days = [START + timedelta(days=t) for t in range(SHAPE["days"])]
    expected = {
        path(home, day)
        for day in days
        for path in (landing.subscriptions_file, landing.usage_file, landing.tickets_file)
    }
    assert {p for p in landing.landing_root(home).rglob("*") if p.is_file()} == expected
    assert summary.files_written == len(expected)
    assert (summary.first_day, summary.last_day) == (days[0], days[-1])
    header = landing.subscriptions_file(home, days[5]).read_text().splitlines()[0]
    assert header == ",".join(landing.SUBSCRIPTION_COLUMNS)
    assert tuple(pl.read_parquet(landing.tickets_file(home, days[5])).columns) == (
        landing.TICKET_COLUMNS
    )
    first_line = landing.usage_file(home, days[5]).read_text().splitlines()[0]
    assert tuple(pl.read_ndjson(first_line.encode()).columns) == landing.USAGE_COLUMNS


def test_row_counts_and_duplicates_match_the_summary(generated, subscriptions, usage, tickets):
    summary = generated[1]
    assert (subscriptions.height, usage.height, tickets.height) == (
        summary.subscription_rows, summary.usage_rows, summary.ticket_rows,
    )  # fmt: skip
    found = {
        landing.SUBSCRIPTIONS: subscriptions.height - subscriptions["event_id"].n_unique(),
        landing.USAGE: usage.height - usage["event_uuid"].n_unique(),
        landing.TICKETS: tickets.height - tickets["ticket_id"].n_unique(),
    }
    assert found == summary.duplicates
    assert all(count > 0 for count in found.values())
    copies = subscriptions.filter(pl.col("event_id").is_duplicated()).drop("path", "day")
    assert copies.unique().height == copies.height // 2  # verbatim re-sends, not new values


def test_bad_rows_are_extra_rows_of_each_kind_and_counted(generated, subscriptions, usage, tickets):
    summary = generated[1]
    known = {*SUBSCRIPTION_EVENTS, *(v for vs in EVENT_TYPE_SPELLINGS.values() for v in vs)}
    found = {
        landing.SUBSCRIPTIONS: {
            "bad_timestamp": subscriptions.filter(_parsed("event_ts").is_null()).height,
            "negative_mrr": subscriptions.filter(pl.col("mrr").cast(pl.Float64) < 0).height,
            "unknown_event_type": subscriptions.filter(~pl.col("event_type").is_in(known)).height,
            "missing_customer_id": subscriptions["account_id"].null_count(),
        },
        landing.USAGE: {
            "bad_timestamp": usage.filter(_parsed("timestamp").is_null()).height,
            "missing_customer_id": usage["user_id"].null_count(),
        },
        landing.TICKETS: {"missing_customer_id": tickets["customer_ref"].null_count()},
    }
    assert found == summary.bad_rows
    assert {s: tuple(kinds) for s, kinds in found.items()} == BAD_ROW_KINDS
    assert all(n > 0 for kinds in found.values() for n in kinds.values())
    unknown = subscriptions.filter(~pl.col("event_type").is_in(known))["event_type"]
    assert set(unknown) <= set(UNKNOWN_EVENT_TYPES)
    total = sum(n for kinds in found.values() for n in kinds.values())
    assert total < 0.01 * (summary.subscription_rows + summary.usage_rows + summary.ticket_rows)


def test_spellings_are_known_variants_canonical_dominates_and_counted(
    generated, subscriptions, tickets
):
    summary = generated[1]
    rows = subscriptions.unique("event_id", keep="first").filter(
        ~pl.col("event_type").is_in(UNKNOWN_EVENT_TYPES)
    )
    tickets = tickets.unique("ticket_id", keep="first")
    assert set(EVENT_TYPE_SPELLINGS) == set(SUBSCRIPTION_EVENTS)
    assert set(PLAN_SPELLINGS) == set(PLANS)
    assert set(CATEGORY_SPELLINGS) == set(TICKET_CATEGORIES)
    families = {
        "event_type": (rows["event_type"], EVENT_TYPE_SPELLINGS),
        "plan": (rows["plan"], PLAN_SPELLINGS),
        "category": (tickets["category"], CATEGORY_SPELLINGS),
    }
    for family, (values, spellings) in families.items():
        variants = {v for vs in spellings.values() for v in vs}
        assert set(values) <= set(spellings) | variants
        messy = values.is_in(variants).sum()
        assert messy == summary.messy_spellings[family] > 0
        assert messy < 0.2 * values.len()
    assert {"CANCEL", "Cancelled", "cancellation "} & set(rows["event_type"])
    non_iso = rows["event_ts"].str.contains(r"^\d{4}/\d{2}/\d{2} ").sum()
    assert non_iso == summary.non_iso_timestamps[landing.SUBSCRIPTIONS] > 0


def test_accounts_older_than_the_export_sign_up_on_the_first_day(generated, events, truth):
    signups = events.filter(pl.col("event_type") == "signup")
    assert signups["account_id"].is_unique().all()
    assert signups.height == truth.height == SHAPE["customers"]
    assert (signups["time"].dt.date() == signups["day"]).all()  # inside its file's day
    dated = signups.join(truth, on="account_id").select(
        older=pl.col("signup_date") < START, day=pl.col("day"), signed=pl.col("signup_date")
    )
    older = dated.filter("older")
    assert older.height == SHAPE["customers"] - generated[1].signups_in_window > 0
    assert older["day"].unique().to_list() == [START]
    assert (
        dated.filter(~pl.col("older")).select(pl.col("day") == pl.col("signed")).to_series().all()
    )


def test_churn_is_rare_and_a_third_of_cancellations_are_reversed(generated):
    summary = generated[1]
    assert 0.015 <= summary.monthly_churn_rate <= 0.03
    assert 0.25 <= summary.reversed_share <= 0.45
    assert summary.true_churners == generated[1].truth["churn_date"].count()


def test_reactivations_follow_a_cancellation_within_a_month(generated, events):
    summary = generated[1]
    cancels = events.filter(pl.col("event_type") == "cancellation").select(
        "account_id", cancelled=pl.col("time")
    )
    back = events.filter(pl.col("event_type") == "reactivation").select("account_id", "time")
    paired = back.sort("time").join_asof(
        cancels.sort("cancelled"),
        left_on="time",
        right_on="cancelled",
        by="account_id",
        check_sortedness=False,
    )
    gap = (pl.col("time") - pl.col("cancelled")).dt.total_days()
    assert paired.filter(gap.is_null() | (gap > 30)).is_empty()
    assert back.height == summary.reversed_cancellations
    assert cancels.height == summary.cancellations
    retries = events.filter(pl.col("event_type") == "billing_retry")
    assert set(back["account_id"]) <= set(retries["account_id"])


def test_true_churners_stop_using_the_product_and_reversed_ones_do_not(usage, truth, events):
    after = usage.join(truth.filter("churned"), left_on="user_id", right_on="account_id").filter(
        pl.col("day") >= pl.col("churn_date")
    )
    assert after.is_empty()
    back = events.filter(pl.col("event_type") == "reactivation").select(
        user_id="account_id", back=pl.col("day")
    )
    lapsed = usage.join(back, on="user_id").filter(
        pl.col("day").is_between(pl.col("back") - pl.duration(days=3), pl.col("back"))
    )
    assert lapsed["user_id"].n_unique() > 0.5 * back.height


def test_churners_disengage_in_their_last_four_weeks(usage, truth):
    history_from = pl.col("churn_date") - pl.duration(days=112)  # 16 weeks of files and tenure
    churners = truth.filter(
        pl.col("churned"), pl.col("signup_date") <= history_from, history_from >= START
    ).select(user_id="account_id", churn_date="churn_date")
    assert churners.height >= 20
    rows = usage.join(churners, on="user_id").with_columns(
        before=(pl.col("churn_date") - pl.col("day")).dt.total_days()
    )
    late, early = pl.col("before").is_between(1, 28), pl.col("before").is_between(57, 112)
    logins = rows.filter(pl.col("event_name") == "login")
    late_rate = logins.filter(late).height / 28
    early_rate = logins.filter(early).height / 56
    assert late_rate < 0.75 * early_rate
    sessions = rows.filter(pl.col("event_name") == "session")
    seconds = [sessions.filter(w)["session_seconds"].median() for w in (late, early)]
    assert seconds[0] < 0.9 * seconds[1]
    features = rows.filter(pl.col("event_name") == "feature_use")
    breadth = [
        features.filter(w).group_by("user_id").agg(pl.col("feature_name").n_unique()).mean()
        for w in (late, early)
    ]
    assert breadth[0]["feature_name"][0] < breadth[1]["feature_name"][0]
    assert set(features["feature_name"]) <= set(FEATURES)


def test_refund_requests_are_more_frequent_among_churners(tickets, truth):
    refunds = (
        tickets.unique("ticket_id")
        .filter(_canonical("category", CATEGORY_SPELLINGS) == "refund_request")
        .group_by(account_id="customer_ref")
        .len("refunds")
    )
    share = (
        truth.join(refunds, on="account_id", how="left")
        .group_by("churned")
        .agg((pl.col("refunds").fill_null(0) > 0).mean())
    )
    by_flag = dict(share.iter_rows())
    assert by_flag[True] > 2 * by_flag[False]


def test_enterprise_churns_less_and_downgrades_precede_churn(truth, events):
    rates = dict(truth.group_by("signup_plan").agg(pl.col("churned").mean()).iter_rows())
    assert rates["enterprise"] < 0.5 * rates["basic"]
    downgraded = events.filter(pl.col("event_type") == "downgrade")["account_id"]
    upper = truth.filter(pl.col("signup_plan") != "basic").with_columns(
        downgraded=pl.col("account_id").is_in(downgraded.implode())
    )
    shares = dict(upper.group_by("churned").agg(pl.col("downgraded").mean()).iter_rows())
    assert shares[True] > 3 * shares[False]


def test_the_summary_prints_counts_but_not_the_truth_table(generated):
    text = repr(generated[1])
    assert "true_churners=" in text
    assert "reversed_cancellations=" in text
    assert "truth" not in text
