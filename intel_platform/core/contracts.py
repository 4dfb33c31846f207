"""Column contracts: which source column names map onto each canonical column.

Sources rename columns during maintenance (the silent rename: ``unit_price`` becomes
``price_per_unit`` and training quietly gets nulls). A contract lists every known alias, so a
known rename keeps flowing, and an unknown header fails ingestion loudly, naming the file,
the columns nobody recognises and the canonical columns left without a source.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl


class SchemaDriftError(ValueError):
    """A landing file's header no contract alias explains."""

    def __init__(self, file: Path | str, unknown: Iterable[str], missing: Iterable[str]):
        self.file = str(file)
        self.unknown = sorted(unknown)
        self.missing = sorted(missing)
        parts = []
        if self.unknown:
            parts.append(f"unknown columns {self.unknown}")
        if self.missing:
            parts.append(f"no column for required {self.missing}")
        super().__init__(
            f"{self.file}: {'; '.join(parts)}. If a source renamed a column, add the new name to "
            "the contract's aliases; otherwise fix the export."
        )


@dataclass(frozen=True)
class Contract:
    """Canonical columns of one harmonized table and the source names accepted for each."""

    name: str
    aliases: Mapping[str, tuple[str, ...]]
    required: frozenset[str]
    optional_extras: frozenset[str] = field(default_factory=frozenset)

    def canonical_of(self, source_column: str) -> str | None:
        for canonical, names in self.aliases.items():
            if source_column == canonical or source_column in names:
                return canonical
        return None

    def check_header(self, file: Path | str, columns: Iterable[str]) -> dict[str, str]:
        """Map each source column to its canonical name, or raise ``SchemaDriftError``."""
        columns = list(columns)
        mapping = {c: self.canonical_of(c) for c in columns}
        unknown = [c for c, canon in mapping.items() if canon is None]
        covered = {canon for canon in mapping.values() if canon is not None}
        missing = self.required - covered
        if unknown or missing:
            raise SchemaDriftError(file, unknown, missing)
        return {c: canon for c, canon in mapping.items() if canon is not None}

    def source_names(self, canonical: str, available: Iterable[str]) -> list[str]:
        """The columns in ``available`` that carry ``canonical``, canonical name first."""
        names = (canonical, *self.aliases.get(canonical, ()))
        present = set(available)
        return [n for n in dict.fromkeys(names) if n in present]

    def canonical_columns(self, frame_columns: Iterable[str]) -> list[pl.Expr]:
        """One string expression per canonical column: the first non-null alias value."""
        available = list(frame_columns)
        exprs = []
        for canonical in self.aliases:
            names = self.source_names(canonical, available)
            if not names:
                exprs.append(pl.lit(None, dtype=pl.String).alias(canonical))
            elif len(names) == 1:
                exprs.append(pl.col(names[0]).cast(pl.String).alias(canonical))
            else:
                merged = pl.coalesce([pl.col(n).cast(pl.String) for n in names])
                exprs.append(merged.alias(canonical))
        return exprs

    def lineage(self, frame_columns: Iterable[str]) -> dict[str, list[str]]:
        """Canonical column -> the source columns it is read from (column-level lineage)."""
        available = list(frame_columns)
        return {c: self.source_names(c, available) for c in self.aliases}
