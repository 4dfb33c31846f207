"""Materialization metadata every table reports: row count, column schema, column lineage."""

from collections.abc import Mapping, Sequence

import dagster as dg
import polars as pl

SAMPLE_ROWS = 20


def column_schema(schema: Mapping[str, pl.DataType]) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in schema.items()]
    )


def table_metadata(rows: int, schema: Mapping[str, pl.DataType]) -> dict[str, object]:
    """``dagster/row_count`` and ``dagster/column_schema``: what the UI shows for every table."""
    return {"dagster/row_count": rows, "dagster/column_schema": column_schema(schema)}


def column_lineage(
    sources: Mapping[str, Sequence[tuple[dg.AssetKey, str]]],
) -> dict[str, dg.TableColumnLineage]:
    """``dagster/column_lineage`` from {column: [(upstream asset, upstream column), ...]}."""
    deps = {
        column: [dg.TableColumnDep(asset_key=key, column_name=name) for key, name in upstream]
        for column, upstream in sources.items()
        if upstream
    }
    return {"dagster/column_lineage": dg.TableColumnLineage(deps_by_column=deps)}


def markdown_table(frame: pl.DataFrame, limit: int = SAMPLE_ROWS) -> str:
    """A small frame as a markdown table, for check and materialization metadata."""
    if frame.height == 0:
        return "_no rows_"
    shown = frame.head(limit)
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in shown.iter_rows()]
    more = [f"\n_{frame.height - limit} more rows not shown_"] if frame.height > limit else []
    return "\n".join([header, rule, *body, *more])


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")[:120]
