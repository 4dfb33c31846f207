"""What one generation wrote, with every defect injected on purpose, for reconciliation."""

from dataclasses import dataclass


@dataclass(frozen=True)
class GenerationSummary:
    """What one generation wrote, with every defect injected on purpose, for reconciliation.

    Row counts are rows as written, duplicates and bad rows included; ``bad_rows`` has one entry
    per kind in ``BAD_ROW_KINDS``.
    """

    files_written: int
    pos_rows: int
    ecom_rows: int
    inventory_rows: int
    pos_duplicates: int
    ecom_duplicates: int
    bad_rows: dict[str, int]
    products: int
    stores: int

    @property
    def duplicates(self) -> int:
        return self.pos_duplicates + self.ecom_duplicates

    @property
    def bad_rows_total(self) -> int:
        return sum(self.bad_rows.values())
