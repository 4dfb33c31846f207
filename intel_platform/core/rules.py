"""Parsing and de-duplication rules every product's harmonizer uses on raw text rows.

Raw values arrive as text (see ``core.ingest``); these expressions turn them into typed values
or null, so a harmonizer can name the first broken field as the quarantine reason. A value that
cannot be read is never guessed: ``unparseable`` tells it apart from a value that was absent.
"""

from importlib.abc import Traversable
from pathlib import Path

import polars as pl

from intel_platform.core.contracts import Contract

AUDIT = ["_source_file", "_row_number", "_partition", "_raw_index"]
TRUE_TEXT = ["1", "true", "t", "yes", "y"]
FALSE_TEXT = ["0", "false", "f", "no", "n"]
# Datetime spellings exports actually use: ISO (T or space, optional fraction and zone) and the
# slashed form spreadsheets write. Anything else is unparseable, never guessed.
_ISO_DAY = r"^\d{4}-\d{2}-\d{2}"
_SLASHED = r"^\d{4}/\d{2}/\d{2}"


def canonical(raw: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """Contract columns (as text, aliases coalesced, blanks as null) plus the audit columns,
    in arrival order with an ``_order`` index (the first of duplicates is the one kept)."""
    audit = [c for c in AUDIT if c in raw.columns]
    arrival = [c for c in ("_source_file", "_row_number") if c in raw.columns]
    rows = raw.sort(arrival) if arrival else raw
    return (
        rows.select(*contract.canonical_columns(raw.columns), *audit)
        .with_columns(pl.col(c).str.strip_chars().replace("", None) for c in contract.aliases)
        .with_row_index("_order")
    )


def number(column: str) -> pl.Expr:
    """A finite number, else null (``inf`` and ``NaN`` are as unparseable as ``n/a``)."""
    value = pl.col(column).cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def whole(column: str) -> pl.Expr:
    value = number(column)
    return pl.when(value == value.round()).then(value)


def unparseable(column: str, parsed: pl.Expr) -> pl.Expr:
    """Present in the source, but unreadable: the quarantine's business, not a missing value."""
    return pl.col(column).is_not_null() & parsed.is_null()


def iso_date(column: str) -> pl.Expr:
    """ISO dates, and ISO datetimes cut to their day; anything else is unparseable."""
    iso = pl.col(column).str.contains(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}.*)?$")
    return pl.when(iso).then(pl.col(column).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False))


def timestamp(column: str) -> pl.Expr:
    """ISO or ``YYYY/MM/DD`` datetimes (a bare day is midnight) to naive UTC microseconds; an
    offset is honoured and converted, seconds' fractions kept. Anything else is null."""
    text = pl.col(column).str.replace("T", " ").str.replace(r"^(\d{4})/(\d{2})/(\d{2})", "$1-$2-$3")
    day_only = text.str.contains(r"^\d{4}-\d{2}-\d{2}$")
    zoned = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$")
    plain = text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us")
    with_zone = (
        text.str.replace(r"Z$", "+00:00")
        .str.to_datetime("%Y-%m-%d %H:%M:%S%.f%:z", strict=False, time_unit="us")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )
    midnight = text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us"))
    known = pl.col(column).str.contains(f"{_ISO_DAY}|{_SLASHED}")
    return (
        pl.when(~known)
        .then(None)
        .when(day_only)
        .then(midnight)
        .when(zoned)
        .then(with_zone)
        .otherwise(plain)
        .alias(column)
    )


def flag(column: str) -> pl.Expr:
    text = pl.col(column).str.to_lowercase()
    return pl.when(text.is_in(TRUE_TEXT)).then(True).when(text.is_in(FALSE_TEXT)).then(False)


def first_seen(keys: list[str], eligible: pl.Expr) -> pl.Expr:
    """True for the first eligible row of each key, in arrival order (file, row number)."""
    return pl.col("_order").filter(eligible).first().over(keys) == pl.col("_order")


def first_row_per_key(typed: pl.DataFrame, keys: list[str], reason: str) -> pl.DataFrame:
    """Of valid rows sharing ``keys`` the first to arrive wins; the others get ``reason``
    (a duplicate is quarantined, not dropped, so the count still adds up)."""
    valid = pl.col("reason").is_null()
    return typed.with_columns(
        reason=pl.when(valid & ~first_seen(keys, valid)).then(pl.lit(reason)).otherwise("reason")
    )


def split_by_reason(tagged: pl.DataFrame, columns: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows with no reason, in ``columns``; rows with one, as they are): every row once."""
    good = tagged.filter(pl.col("reason").is_null()).select(columns)
    return good, tagged.filter(pl.col("reason").is_not_null())


def normalized_spelling(expr: pl.Expr) -> pl.Expr:
    """Case, padding and inner white space never make a new spelling."""
    return expr.str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ")


def spelling_table(shipped: Traversable, user_file: Path | None = None) -> pl.DataFrame:
    """A shipped ``alias,canonical`` table plus the user's additions (a CSV of the same two
    columns under the project home's mappings), which win on conflict; aliases normalized."""
    frames = [_two_columns(pl.read_csv(shipped.read_bytes(), infer_schema=False))]
    if user_file and user_file.exists():
        frames.append(_two_columns(pl.read_csv(user_file, infer_schema=False)))
    return (
        pl.concat(frames)
        .with_columns(alias=normalized_spelling(pl.col("alias")))
        .unique("alias", keep="last", maintain_order=True)
    )


def _two_columns(table: pl.DataFrame) -> pl.DataFrame:
    """The first two columns as (alias, canonical), whatever a mapping file calls them."""
    alias, canon = table.columns[:2]
    return table.select(alias=pl.col(alias), canonical=pl.col(canon))


def spelled(column: str, table: pl.DataFrame) -> pl.Expr:
    """The canonical value of ``column``'s spelling per ``table``, null for an unknown one."""
    mapping = dict(zip(table["alias"].to_list(), table["canonical"].to_list(), strict=True))
    return normalized_spelling(pl.col(column)).replace_strict(mapping, default=None)
