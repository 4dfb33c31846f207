"""The forecast chart an engineer sees in the UI: actuals, the p50 path and the p10-p90 band,
for the total and the biggest series, embedded in the materialization's markdown."""

import base64
import io

import polars as pl

GRAIN = ["store_id", "item_id"]


def chart_panels(
    history: pl.DataFrame, forecast: pl.DataFrame, *, top: int = 3, history_days: int = 56
) -> list[tuple[str, pl.DataFrame, pl.DataFrame]]:
    """(title, actuals[date, units], forecast[date, p10, p50, p90]) for the total and the
    ``top`` series by forecast volume; pure, so the selection is testable without a plot."""
    cutoff = history["date"].max()
    recent = history.filter(pl.col("date") > cutoff - pl.duration(days=history_days))
    quantiles = ["p10", "p50", "p90"]
    panels = [(
        "total",
        recent.group_by("date").agg(pl.col("units").sum()).sort("date"),
        forecast.group_by("date").agg(pl.col(quantiles).sum()).sort("date"),
    )]  # fmt: skip
    biggest = forecast.group_by(GRAIN).agg(pl.col("p50").sum()).sort("p50", descending=True)
    for store, item in biggest.head(top).select(GRAIN).iter_rows():
        match = (pl.col("store_id") == store) & (pl.col("item_id") == item)
        panels.append((
            f"{store} / {item}",
            recent.filter(match).select("date", "units").sort("date"),
            forecast.filter(match).select("date", *quantiles).sort("date"),
        ))  # fmt: skip
    return panels


def render_png(panels: list[tuple[str, pl.DataFrame, pl.DataFrame]]) -> bytes:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(len(panels), 1, figsize=(9, 2.4 * len(panels)), squeeze=False)
    for axis, (title, actual, predicted) in zip(axes[:, 0], panels, strict=True):
        axis.plot(actual["date"].to_list(), actual["units"].to_list(), color="black", lw=1,
                  label="actual")  # fmt: skip
        dates = predicted["date"].to_list()
        axis.fill_between(dates, predicted["p10"].to_list(), predicted["p90"].to_list(),
                          alpha=0.3, label="p10-p90")  # fmt: skip
        axis.plot(dates, predicted["p50"].to_list(), lw=1.5, label="p50")
        axis.set_title(title, fontsize=9)
        axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80)
    plt.close(figure)
    return buffer.getvalue()


def markdown_image(png: bytes, title: str) -> str:
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"
