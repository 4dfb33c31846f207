"""The Dagster side of a product's harmonized layer, shared so each product writes only its
rules: asset specs of a table and its quarantine, reading raw ranges and reference tables,
splitting several raw sources into one contract, and column lineage.

A product makes one ``HarmonizedLayer("<product>")``; keys follow the house rule (asset key =
module path): ``<product>/harmonized/<name>`` reads ``<product>/raw/<source>``.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import dagster as dg
import duckdb
import polars as pl

from intel_platform.core.checks import CheckOutcome, contract_outcome, quarantine_rate_outcome
from intel_platform.core.contracts import Contract
from intel_platform.core.harmonize import HarmonizeRun, Split, Targets, harmonize_days
from intel_platform.core.ingest import AUDIT_COLUMNS
from intel_platform.core.metadata import column_lineage
from intel_platform.core.quarantine import QUARANTINE_SCHEMA, RAW_INDEX, indexed, quarantine_rows
from intel_platform.core.warehouse import (
    read_range,
    read_table,
    refresh_union_view,
    replace_table,
    table_columns,
    table_exists,
    table_name,
)

# A source's rule: raw text rows of [first, last] -> (contract rows, rejected rows with reason).
Splitter = Callable[[pl.DataFrame, date, date], tuple[pl.DataFrame, pl.DataFrame]]
Evaluate = Callable[[Split, date, date], Mapping[str, CheckOutcome]]


@dataclass(frozen=True)
class HarmonizedLayer:
    product: str

    @property
    def prefix(self) -> list[str]:
        return [self.product, "harmonized"]

    @property
    def group(self) -> str:
        return f"{self.product}_harmonized"

    @property
    def owners(self) -> list[str]:
        return [f"team:{self.product}"]

    def key(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([*self.prefix, name])

    def raw_key(self, name: str) -> dg.AssetKey:
        return dg.AssetKey([self.product, "raw", name])

    def table(self, name: str) -> str:
        return table_name(self.key(name))

    def specs(
        self, name: str, upstream: list[dg.AssetKey], doc: str, **extra
    ) -> list[dg.AssetSpec]:
        """The table and its quarantine, materialized together from the same upstream, so a
        re-run after a mapping fix moves rows between them with nothing lost or doubled."""
        common = {
            "group_name": self.group, "owners": self.owners, "kinds": {"polars", "duckdb"},
            "deps": upstream, "code_version": "1", **extra,
        }  # fmt: skip
        quarantine_doc = (
            f"Rows of the raw {name} sources that broke the contract, each with its reason, "
            "source file, row number and raw values (JSON). Re-materializing after a fix moves "
            "them back."
        )
        return [
            dg.AssetSpec(self.key(name), description=doc, **common),
            dg.AssetSpec(self.key(f"{name}_quarantine"), description=quarantine_doc, **common),
        ]

    def reference(self, conn: duckdb.DuckDBPyConnection, name: str) -> pl.DataFrame:
        """A harmonized reference table another one validates against; missing is an error
        that says which asset to materialize."""
        table = self.table(name)
        if not table_exists(conn, table):
            path = "/".join(self.key(name).path)
            raise dg.Failure(description=f"{table} is missing: materialize {path}.")
        return read_table(conn, table)

    def lineage(
        self, conn: duckdb.DuckDBPyConnection, contract: Contract, raws: Sequence[str]
    ) -> dict:
        """Which raw columns feed each harmonized column, from the raw tables' actual columns."""
        sources: dict[str, list[tuple[dg.AssetKey, str]]] = {}
        for raw in raws:
            table = table_name(self.raw_key(raw))
            if table_exists(conn, table):
                for column, names in contract.lineage(table_columns(conn, table)).items():
                    sources.setdefault(column, []).extend((self.raw_key(raw), n) for n in names)
        return column_lineage(sources)

    def raw_range(
        self, conn: duckdb.DuckDBPyConnection, raw: str, first: date, last: date
    ) -> pl.DataFrame:
        """Raw rows of [first, last]; an absent optional source is zero rows."""
        table = table_name(self.raw_key(raw))
        if not table_exists(conn, table):
            return pl.DataFrame()
        frame = read_range(conn, table, partition_column="_partition", first=first, last=last)
        # Alias columns a source no longer sends are all null here; the audit copy keeps them.
        return frame.select(c for c in frame.columns if frame[c].null_count() < frame.height)

    def split_sources(
        self,
        conn: duckdb.DuckDBPyConnection,
        sources: Sequence[tuple[str, Splitter]],
        *,
        table: str,
        empty: Mapping[str, pl.DataType],
        grain: Sequence[str],
        first: date,
        last: date,
    ) -> Split:
        """Split each raw source of [first, last] into one contract; quarantine rows keep
        their raw values. Contract rows come sorted by ``grain``."""
        goods, bads = [pl.DataFrame(schema=empty)], [pl.DataFrame(schema=QUARANTINE_SCHEMA)]
        rejected = []
        for raw_name, splitter in sources:
            raw = self.raw_range(conn, raw_name, first, last)
            if raw.height:
                raw = indexed(raw)
                good, bad = splitter(raw, first, last)
                goods.append(good)
                rejected.append(bad.select(c for c in empty if c in bad.columns))
                record = [c for c in raw.columns if c not in (*AUDIT_COLUMNS, RAW_INDEX)]
                bads.append(quarantine_rows(bad, raw, table_name=table, record_columns=record))
        good = pl.concat(goods, how="vertical_relaxed")
        broken = pl.concat(rejected, how="diagonal_relaxed") if rejected else pl.DataFrame()
        return Split(good.sort([c for c in grain if c in good.columns]), pl.concat(bads), broken)

    def harmonize(
        self,
        conn: duckdb.DuckDBPyConnection,
        name: str,
        days: list[date],
        split: Callable[..., Split],
        evaluate: Evaluate,
        chunk_days: int,
    ) -> HarmonizeRun:
        """Chunks of ``days`` through ``split(first=, last=)`` into the table and quarantine."""
        targets = Targets(self.table(name), self.table(f"{name}_quarantine"))
        return harmonize_days(
            conn, days, targets, lambda a, b: split(first=a, last=b), evaluate, chunk_days
        )

    def reference_table(
        self,
        conn: duckdb.DuckDBPyConnection,
        name: str,
        splitter: Callable[[pl.DataFrame], tuple[pl.DataFrame, pl.DataFrame]],
        model: type,
    ) -> HarmonizeRun:
        """Harmonize a whole reference table (catalog, store list) and its quarantine at once;
        every quarantined reference row is worth a warning (``<name>_quarantined``)."""
        raw_table = table_name(self.raw_key(name))
        if not table_exists(conn, raw_table):
            path = "/".join(self.raw_key(name).path)
            raise dg.Failure(description=f"{raw_table} is missing: materialize {path}.")
        raw = indexed(read_table(conn, raw_table))
        good, bad = splitter(raw)
        record = [c for c in raw.columns if c not in (*AUDIT_COLUMNS, RAW_INDEX)]
        quarantined = quarantine_rows(bad, raw, table_name=name, record_columns=record)
        replace_table(conn, self.table(name), good)
        replace_table(conn, self.table(f"{name}_quarantine"), quarantined)
        refresh_union_view(conn, "_".join(self.prefix), "quarantine")
        run = HarmonizeRun()
        kept = pl.DataFrame(
            {"partition_date": [None], "kept": [good.height]},
            schema={"partition_date": pl.Date, "kept": pl.UInt32},
        )
        run.add(Split(good, quarantined), {
            f"{name}_contract": contract_outcome(model, good),
            f"{name}_quarantined": quarantine_rate_outcome(
                kept, quarantined, max_rate=0.0, min_rows=1
            ),
        })  # fmt: skip
        return run
