"""Shared parsing rules: readable values typed, unreadable ones null (never guessed)."""

from datetime import datetime

import polars as pl

from intel_platform.core.rules import first_row_per_key, spelled, timestamp


def test_timestamp_reads_iso_slashed_zoned_and_bare_days_and_nothing_else():
    text = ["2024-03-05T10:11:12", "2024/03/05 10:11:12", "2024-03-05 10:11:12.5",
            "2024-03-05T10:00:00Z", "2024-03-05T10:00:00-05:00", "2024-03-05", "05.03.2024",
            "1709633472", None]  # fmt: skip
    parsed = pl.DataFrame({"t": text}).select(timestamp("t"))["t"].to_list()
    assert parsed == [
        datetime(2024, 3, 5, 10, 11, 12), datetime(2024, 3, 5, 10, 11, 12),
        datetime(2024, 3, 5, 10, 11, 12, 500000), datetime(2024, 3, 5, 10),
        datetime(2024, 3, 5, 15), datetime(2024, 3, 5), None, None, None,
    ]  # fmt: skip


def test_first_row_per_key_keeps_the_first_valid_arrival():
    typed = pl.DataFrame(
        {"_order": [0, 1, 2, 3], "id": ["a", "a", "a", "b"], "reason": ["broken", None, None, None]}
    )
    marked = first_row_per_key(typed, ["id"], "duplicate_id")
    assert marked["reason"].to_list() == ["broken", None, "duplicate_id", None]


def test_spelled_matches_case_and_padding_but_not_unknown_words():
    table = pl.DataFrame({"alias": ["refund request"], "canonical": ["refund_request"]})
    frame = pl.DataFrame({"c": [" Refund  Request", "refunds"]})
    assert frame.select(spelled("c", table))["c"].to_list() == ["refund_request", None]
