"""Fingerprints, change stamps and the cursor of landing sensors, on real files."""

import os
import time
from datetime import date
from pathlib import Path

import pytest

from intel_platform.core.landing import publish
from intel_platform.core.landing_sensor import (
    LandingCursor,
    change_stamp,
    changed_days,
    dated_entries,
    fingerprint,
)


def _write(path: Path, text: str) -> Path:
    return publish(path, lambda tmp: tmp.write_text(text))


def test_fingerprint_ignores_order_and_moves_with_name_size_or_mtime(tmp_path):
    a, b = _write(tmp_path / "d" / "a.csv", "x"), _write(tmp_path / "d" / "b.csv", "yy")
    first = fingerprint([a, b], tmp_path)
    assert fingerprint([b, a], tmp_path) == first
    assert fingerprint([a], tmp_path) != first
    os.utime(a, ns=(a.stat().st_atime_ns, a.stat().st_mtime_ns + 1))  # same bytes, new mtime
    assert fingerprint([a, b], tmp_path) != first
    moved = fingerprint([a, b], tmp_path / "d")  # names are relative to the root given
    assert moved != fingerprint([a, b], tmp_path)


def test_dated_entries_keeps_iso_days_and_skips_parts_and_strays(tmp_path):
    for name in ("2024-03-04.jsonl", "2024-03-05.jsonl.part", "2024-02-30.jsonl", "notes.jsonl",
                 "20240306.jsonl", "2024-03-07.csv"):  # fmt: skip
        (tmp_path / name).write_text("")
    assert dated_entries(tmp_path, ".jsonl") == {date(2024, 3, 4): tmp_path / "2024-03-04.jsonl"}
    assert dated_entries(tmp_path / "absent") == {}


def test_folder_stamp_moves_when_a_file_is_published_into_it(tmp_path):
    folder = tmp_path / "2024-03-04"
    assert change_stamp(folder) == 0
    _write(folder / "S01.csv", "a")
    before = change_stamp(folder)
    time.sleep(0.02)  # file-system clocks can be coarse (a few ms)
    _write(folder / "S02.csv", "b")
    assert change_stamp(folder) > before


def test_changed_days_takes_stamps_since_the_last_scan_less_the_slack():
    stamps = {date(2024, 3, 4): 100, date(2024, 3, 5): 200, date(2024, 3, 6): 300}
    assert changed_days(stamps, since_ns=200, slack_ns=0) == {date(2024, 3, 5), date(2024, 3, 6)}
    assert changed_days(stamps, since_ns=250, slack_ns=100) == set(stamps) - {date(2024, 3, 4)}


def test_cursor_round_trips_and_starts_empty():
    cursor = LandingCursor({"2024-03-05": "b" * 64, "2024-03-04": "a" * 64}, scanned_ns=123)
    assert LandingCursor.from_json(cursor.to_json()) == cursor
    assert LandingCursor.from_json(None) == LandingCursor() == LandingCursor.from_json("")


@pytest.mark.parametrize(
    "text",
    ["not json", "[]", '{"2024-03-04": "abc"}', '{"fingerprints": {"d": 1}, "scanned_ns": 0}'],
)
def test_a_cursor_set_by_hand_to_nonsense_fails_loudly(text):
    with pytest.raises(ValueError, match="reset the sensor's cursor"):
        LandingCursor.from_json(text)
