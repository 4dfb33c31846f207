"""Landing-zone conventions shared by every product: where files go and how they arrive.

A file is published by writing ``<name>.part`` and renaming it, so a reader never sees half a
file: anything ending in ``.part`` is in flight and is ignored by ingestion and sensors.
"""

from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

IN_FLIGHT_SUFFIX = ".part"


def publish(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through ``write(tmp_path)`` then rename into place, atomically on one filesystem."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + IN_FLIGHT_SUFFIX)
    write(tmp)
    tmp.replace(path)
    return path


def day_folder(root: Path, source: str, day: date) -> Path:
    """Per-day folder of a source, e.g. ``landing/demand/pos_sales/2024-01-31``."""
    return root / source / day.isoformat()


def landed_files(folder: Path, pattern: str) -> list[Path]:
    """Complete files matching ``pattern`` in ``folder``, sorted so ingestion order is stable."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(pattern) if not p.name.endswith(IN_FLIGHT_SUFFIX))


def refuse_foreign_files(root: Path, sources: Iterable[str], targets: set[Path]) -> None:
    """Refuse to mix data sets: before an import writes ``targets``, any landed file of
    ``sources`` under ``root`` it would not overwrite belongs to another data set (generated
    or imported), and ingesting both would blend two businesses into one history."""
    foreign = [
        path
        for source in sources
        for path in sorted((root / source).rglob("*"))
        if path.is_file() and path not in targets
    ]
    if foreign:
        raise ValueError(
            f"landing zone {root} already holds {len(foreign)} file(s) from another data set "
            f"(e.g. {foreign[0]}); import into a fresh home (--home) or delete that folder first"
        )
