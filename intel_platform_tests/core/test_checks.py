from datetime import date

import dagster as dg
import pandera.polars as pa
import polars as pl
import pytest

from intel_platform.core.checks import (
    CheckDefinition,
    CheckOutcome,
    completeness_outcome,
    contract_outcome,
    null_rate_outcome,
    quarantine_rate_outcome,
)

D1, D2, D3, D4 = date(2024, 3, 8), date(2024, 3, 9), date(2024, 3, 10), date(2024, 3, 11)
KEY = dg.AssetKey(["demand", "harmonized", "sales"])


class ToyModel(pa.DataFrameModel):
    line_id: str = pa.Field(unique=True)
    units: pl.Int64 = pa.Field(ge=0)
    date: pl.Date
    source_file: str


def _sample(n: int, tag: str) -> pl.DataFrame:
    return pl.DataFrame({"row": [f"{tag}{i}" for i in range(n)]})


# --- CheckOutcome.merge -----------------------------------------------------------------------


def test_merge_sums_counts_keeps_worst_observed_and_unions_locations():
    a = CheckOutcome(
        failures={"units: ge": 2, "price: gt": 1},
        sample=_sample(2, "a"),
        partitions=("2024-03-08",),
        files=("a.csv",),
        observed={"rate": 0.3, "only_a": 1.0},
        rows_checked=10,
    )
    b = CheckOutcome(
        failures={"units: ge": 3, "table: unique": 4},
        sample=_sample(1, "b"),
        partitions=("2024-03-09", "2024-03-08"),
        files=("a.csv", "b.csv"),
        observed={"rate": 0.1, "only_b": 2.0},
        rows_checked=5,
    )
    merged = a.merge(b)
    assert merged.failures == {"units: ge": 5, "price: gt": 1, "table: unique": 4}
    assert merged.observed == {"rate": 0.3, "only_a": 1.0, "only_b": 2.0}
    assert merged.partitions == ("2024-03-08", "2024-03-09")
    assert merged.files == ("a.csv", "b.csv")
    assert merged.rows_checked == 15
    assert merged.sample["row"].to_list() == ["a0", "a1", "b0"]
    assert not merged.passed


def test_merge_caps_sample_at_twenty_rows():
    merged = CheckOutcome(sample=_sample(15, "a")).merge(CheckOutcome(sample=_sample(15, "b")))
    assert merged.sample.height == 20
    assert merged.sample["row"].to_list()[14:] == ["a14", "b0", "b1", "b2", "b3", "b4"]


def test_merge_of_two_passed_outcomes_passes():
    merged = CheckOutcome(rows_checked=3).merge(CheckOutcome(rows_checked=4))
    assert merged.passed
    assert merged.rows_checked == 7
    assert merged.sample.height == 0


# --- contract_outcome -------------------------------------------------------------------------


def test_contract_outcome_counts_failures_per_column_and_check_and_samples_bad_rows():
    frame = pl.DataFrame(
        {
            "line_id": ["1", "2", "2", "4"],
            "units": [3, -1, 5, 2],
            "date": [D1, D2, D2, D1],
            "source_file": ["a.csv", "b.csv", "b.csv", "a.csv"],
        }
    )
    outcome = contract_outcome(ToyModel, frame)
    assert outcome.failures == {
        "line_id: field_uniqueness": 2,
        "units: greater_than_or_equal_to(0)": 1,
    }
    assert outcome.sample["_index"].to_list() == [1, 2]
    assert outcome.sample.row(0, named=True) == {
        "_index": 1,
        "line_id": "2",
        "units": -1,
        "date": D2,
        "source_file": "b.csv",
    }
    assert outcome.partitions == ("2024-03-09",)
    assert outcome.files == ("b.csv",)
    assert outcome.rows_checked == 4


def test_contract_outcome_passes_on_a_valid_frame():
    frame = pl.DataFrame(
        {"line_id": ["1", "2"], "units": [0, 7], "date": [D1, D1], "source_file": ["a", "a"]}
    )
    outcome = contract_outcome(ToyModel, frame)
    assert outcome.passed
    assert outcome.rows_checked == 2


# --- null_rate_outcome ------------------------------------------------------------------------


def test_null_rate_outcome_fails_only_partitions_above_the_threshold():
    frame = pl.DataFrame(
        {
            "date": [D1] * 4 + [D2] * 4,
            "price": [1.0, None, 2.0, 3.0, None, None, 1.0, 1.0],
            "source_file": ["a.csv"] * 4 + ["b.csv"] * 4,
        }
    )
    outcome = null_rate_outcome(frame, ["price"], partition_column="date", max_rate=0.25)
    # D1 has exactly 25 % nulls (at the threshold: passes), D2 50 %.
    assert outcome.failures == {"price_null_rate>25%": 2}
    assert outcome.partitions == ("2024-03-09",)
    assert outcome.files == ("b.csv",)
    assert outcome.sample.height == 2
    assert outcome.sample["date"].to_list() == [D2, D2]
    assert outcome.observed == {"worst_partition_null_rate": 0.5, "max_null_rate": 0.25}
    assert outcome.rows_checked == 8


def test_null_rate_outcome_passes_when_every_partition_is_at_the_threshold():
    frame = pl.DataFrame({"date": [D1, D1, D2, D2], "price": [None, 1.0, 2.0, None]})
    outcome = null_rate_outcome(frame, ["price"], partition_column="date", max_rate=0.5)
    assert outcome.passed
    assert outcome.partitions == ()
    assert outcome.observed["worst_partition_null_rate"] == 0.5


# --- quarantine_rate_outcome ------------------------------------------------------------------


def _quarantined(rows: list[tuple[date | None, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "partition_date": pl.Series([d for d, _ in rows], dtype=pl.Date),
            "reason": [r for _, r in rows],
            "source_file": [f"pos/{d}.csv" if d else "catalog.csv" for d, _ in rows],
        }
    )


def test_quarantine_rate_outcome_fails_only_above_rate_and_at_least_min_rows():
    kept = pl.DataFrame({"partition_date": [D1, D2, D3], "kept": [6, 1, 2]})
    quarantined = _quarantined(
        [
            (D1, "negative_units"),  # D1: 2 of 8 = 25 %: at the rate, passes
            (D1, "negative_units"),
            (D2, "unknown_item"),  # D2: 1 of 2 = 50 % but fewer than min_rows
            (D3, "negative_units"),  # D3: 3 of 5 = 60 %: fails
            (D3, "unknown_item"),
            (D3, "negative_units"),
        ]
    )
    outcome = quarantine_rate_outcome(kept, quarantined, max_rate=0.25, min_rows=2)
    assert outcome.failures == {"quarantined: negative_units": 2, "quarantined: unknown_item": 1}
    assert outcome.partitions == ("2024-03-10",)
    assert outcome.files == ("pos/2024-03-10.csv",)
    assert outcome.sample["partition_date"].to_list() == [D3, D3, D3]
    assert outcome.observed == {
        "worst_partition_quarantine_rate": 0.6,
        "max_quarantine_rate": 0.25,
    }
    assert outcome.rows_checked == 15


def test_quarantine_rate_outcome_partition_with_nothing_kept_fails():
    kept = pl.DataFrame({"partition_date": [D1], "kept": [5]})
    quarantined = _quarantined([(D2, "missing_date"), (D2, "missing_date")])
    outcome = quarantine_rate_outcome(kept, quarantined, max_rate=0.5, min_rows=2)
    assert outcome.failures == {"quarantined: missing_date": 2}
    assert outcome.partitions == ("2024-03-09",)
    assert outcome.observed["worst_partition_quarantine_rate"] == 1.0


def test_quarantine_rate_outcome_reference_table_with_null_partition_date():
    kept = pl.DataFrame({"partition_date": pl.Series([None], dtype=pl.Date), "kept": [2]})
    quarantined = _quarantined(
        [(None, "unknown_category"), (None, "unknown_category"), (None, "duplicate_item_id")]
    )
    outcome = quarantine_rate_outcome(kept, quarantined, max_rate=0.1, min_rows=1)
    assert outcome.failures == {
        "quarantined: duplicate_item_id": 1,
        "quarantined: unknown_category": 2,
    }
    assert outcome.partitions == ()
    assert outcome.files == ("catalog.csv",)
    assert outcome.observed["worst_partition_quarantine_rate"] == 0.6
    assert outcome.rows_checked == 5


def test_quarantine_rate_outcome_reference_table_below_rate_passes():
    kept = pl.DataFrame({"partition_date": pl.Series([None], dtype=pl.Date), "kept": [99]})
    quarantined = _quarantined([(None, "unknown_category")])
    outcome = quarantine_rate_outcome(kept, quarantined, max_rate=0.1, min_rows=1)
    assert outcome.passed
    assert outcome.observed["worst_partition_quarantine_rate"] == 0.01


# --- completeness_outcome ---------------------------------------------------------------------


def test_completeness_outcome_missing_weekend_day_fails_and_complete_day_passes():
    expected = pl.DataFrame(
        {
            "store_id": ["S1", "S2"] * 3,
            "item_id": ["I1"] * 6,
            "date": [D1, D1, D2, D2, D3, D3],  # Friday, Saturday, Sunday
        }
    )
    present = pl.DataFrame(
        {
            "store_id": ["S1", "S2", "S1", "S1"],
            "item_id": ["I1"] * 4,
            "date": [D1, D1, D3, D3],  # Saturday dropped; Sunday half there (duplicate row)
            "units": [1, 2, 3, 3],
        }
    )
    outcome = completeness_outcome(
        present,
        expected,
        keys=["store_id", "item_id", "date"],
        partition_column="date",
        max_missing_share=0.5,
    )
    assert outcome.failures == {"missing_keys>50.0%": 2}
    assert outcome.partitions == ("2024-03-09",)
    assert outcome.sample.to_dict(as_series=False) == {
        "store_id": ["S1", "S2"],
        "item_id": ["I1", "I1"],
        "date": [D2, D2],
    }
    assert outcome.observed == {"worst_partition_missing_share": 1.0, "max_missing_share": 0.5}
    assert outcome.rows_checked == 6


def test_completeness_outcome_complete_days_pass():
    expected = pl.DataFrame({"store_id": ["S1", "S1"], "item_id": ["I1"] * 2, "date": [D1, D2]})
    outcome = completeness_outcome(
        expected,
        expected,
        keys=["store_id", "item_id", "date"],
        partition_column="date",
        max_missing_share=0.0,
    )
    assert outcome.passed
    assert outcome.observed["worst_partition_missing_share"] == 0.0


# --- CheckDefinition --------------------------------------------------------------------------


def _definition(**kwargs) -> CheckDefinition:
    return CheckDefinition(
        KEY, "sales_contract", "Rows follow the contract.", "Fix the export.", **kwargs
    )


def test_result_metadata_says_what_failed_where_and_what_to_do():
    outcome = CheckOutcome(
        failures={"units: ge": 2, "table: unique": 1},
        sample=pl.DataFrame({"line_id": ["L7"], "units": [-3]}),
        partitions=("2024-03-08", "2024-03-09"),
        files=("pos/a.csv",),
        observed={"worst_rate": 1},
        rows_checked=9,
    )
    result = _definition().result(outcome)
    meta = {k: v.value for k, v in result.metadata.items()}
    assert not result.passed
    assert result.asset_key == KEY
    assert result.check_name == "sales_contract"
    assert result.severity == dg.AssetCheckSeverity.ERROR
    assert meta["rows_checked"] == 9
    assert meta["failed_rows"] == 3
    assert meta["worst_rate"] == 1.0
    assert meta["what_to_do"] == "Fix the export."
    assert (
        meta["what_failed"]
        == "| rule | count |\n|---|---|\n| units: ge | 2 |\n| table: unique | 1 |"
    )
    assert meta["sample_rows"] == "| line_id | units |\n|---|---|\n| L7 | -3 |"
    assert meta["failed_partitions"] == "2024-03-08, 2024-03-09"
    assert meta["failed_files"] == "pos/a.csv"
    assert result.description == "Failed units: ge: 2, table: unique: 1 in 2024-03-08, 2024-03-09."


def test_result_without_locations_says_n_a():
    result = _definition().result(CheckOutcome(failures={"x": 1}))
    assert result.metadata["failed_partitions"].value == "n/a"
    assert result.metadata["failed_files"].value == "n/a"
    assert result.metadata["sample_rows"].value == "_no rows_"
    assert result.description == "Failed x: 1."


def test_result_of_empty_outcome_passes_without_failure_metadata():
    result = _definition().result(CheckOutcome(rows_checked=4))
    assert result.passed
    assert result.description is None
    assert set(result.metadata) == {"rows_checked", "failed_rows", "what_to_do"}
    assert result.metadata["failed_rows"].value == 0


@pytest.mark.parametrize("blocking", [True, False])
def test_spec_carries_blocking_flag_and_runbook(blocking):
    spec = _definition(blocking=blocking).spec
    assert spec.blocking is blocking
    assert spec.key == dg.AssetCheckKey(KEY, "sales_contract")
    assert spec.description == "Rows follow the contract. If it fails: Fix the export."
    assert spec.metadata == {"what_to_do": "Fix the export."}


def test_definition_is_blocking_by_default():
    assert _definition().blocking is True
    assert _definition().spec.blocking is True


def test_completeness_outcome_ignores_partitions_missing_fewer_than_min_missing():
    expected = pl.DataFrame({"store_id": ["S1", "S2"], "item_id": ["I1"] * 2, "date": [D1, D1]})
    present = expected.head(1)
    keys = ["store_id", "item_id", "date"]
    small = completeness_outcome(
        present, expected, keys=keys, partition_column="date", max_missing_share=0.1, min_missing=2
    )
    assert small.passed
    assert small.observed["worst_partition_missing_share"] == 0.5
    strict = completeness_outcome(
        present, expected, keys=keys, partition_column="date", max_missing_share=0.1, min_missing=1
    )
    assert strict.failures == {"missing_keys>10.0%": 1}


def test_volume_fails_a_day_far_below_the_median_of_its_weekday():
    from datetime import date, timedelta

    from intel_platform.core.checks import volume_outcome

    days = [date(2024, 3, 4) + timedelta(i) for i in range(22)]  # Mondays on 0, 7, 14, 21
    rows = [100 if d.weekday() < 5 else 40 for d in days]  # quiet weekends are normal
    history = pl.DataFrame({"partition_date": days[:20], "rows": rows[:20]})
    counts = pl.DataFrame({"partition_date": days[20:], "rows": [38, 30]})  # Sun ok, Mon low
    outcome = volume_outcome(counts, history, min_share=0.5)
    assert outcome.failures == {"volume<50%_of_weekday_median": 1}
    assert outcome.partitions == ("2024-03-25",)
    assert volume_outcome(counts.head(1), history, min_share=0.5).passed
    assert volume_outcome(counts, history.tail(3), min_share=0.5).passed  # no baseline yet
