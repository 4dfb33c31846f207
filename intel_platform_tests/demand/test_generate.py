"""The synthetic landing zone: layout, determinism, realism, every injected defect accounted."""

import json
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from intel_platform.core.home import ProjectHome
from intel_platform.core.landing import IN_FLIGHT_SUFFIX
from intel_platform.demand import landing
from intel_platform.demand.generate import (
    ALIASES_PATH,
    BAD_ROW_KINDS,
    GenerationSummary,
    generate_demand,
)

START = date(2024, 11, 1)  # covers Thanksgiving, Black Friday and Christmas
SHAPE = {"stores": 3, "items": 20, "days": 60, "start": START}
SEED = 7


def _generate(root: Path, seed: int = SEED) -> tuple[ProjectHome, GenerationSummary]:
    home = ProjectHome(root)
    return home, generate_demand(home, seed=seed, **SHAPE)


def _files(home: ProjectHome) -> dict[str, bytes]:
    root = landing.landing_root(home)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectHome, GenerationSummary]:
    return _generate(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def pos(generated: tuple[ProjectHome, GenerationSummary]) -> pl.DataFrame:
    """Every POS row as written, with the day taken from the folder (sale_date may be broken)."""
    root = landing.landing_root(generated[0]) / landing.POS_SALES
    return (
        pl.scan_csv(
            str(root / "*" / "*.csv"),
            schema_overrides={"sale_date": pl.String, "unit_price": pl.Float64},
            include_file_paths="path",
        )
        .with_columns(
            day=pl.col("path").str.extract(r"(\d{4}-\d{2}-\d{2})/S\d+\.csv$").str.to_date(),
            file_store=pl.col("path").str.extract(r"(S\d+)\.csv$"),
        )
        .collect()
    )


@pytest.fixture(scope="module")
def clean_pos(pos: pl.DataFrame) -> pl.DataFrame:
    """POS rows a harmonizer would keep: deduplicated, no defect."""
    parsed = pl.col("sale_date").str.to_date(strict=False)
    return pos.unique("pos_line_id", keep="first", maintain_order=True).filter(
        pl.col("units") >= 0, pl.col("unit_price").is_between(0.01, 500.0), parsed.is_not_null()
    )


@pytest.fixture(scope="module")
def products(generated: tuple[ProjectHome, GenerationSummary]) -> pl.DataFrame:
    return pl.read_csv(landing.products_file(generated[0]), try_parse_dates=False)


@pytest.fixture(scope="module")
def stores(generated: tuple[ProjectHome, GenerationSummary]) -> pl.DataFrame:
    return pl.read_csv(landing.stores_file(generated[0]), try_parse_dates=False)


@pytest.fixture(scope="module")
def ecom(generated: tuple[ProjectHome, GenerationSummary]) -> pl.DataFrame:
    lines = [
        json.loads(line)
        for path in sorted((landing.landing_root(generated[0]) / landing.ECOM_ORDERS).glob("*"))
        for line in path.read_text().splitlines()
    ]
    return pl.DataFrame(lines)


def test_same_seed_writes_byte_identical_files(generated, tmp_path):
    home, summary = generated
    again_home, again = _generate(tmp_path)
    assert again == summary
    assert _files(again_home) == _files(home)


def test_a_different_seed_writes_different_data(generated, tmp_path):
    other_home, _ = _generate(tmp_path, seed=SEED + 1)
    first, other = _files(generated[0]), _files(other_home)
    pos_files = [name for name in first if name.startswith(landing.POS_SALES)]
    assert sum(first[name] != other.get(name) for name in pos_files) > len(pos_files) // 2
    products = str(Path(landing.CATALOG) / "products.csv")
    assert first[products] != other[products]


def test_layout_and_headers_match_the_landing_contract(generated, stores):
    home, summary = generated
    open_dates = dict(zip(stores["store_id"], stores["open_date"], strict=True))
    days = [START + timedelta(days=t) for t in range(SHAPE["days"])]
    expected = {landing.products_file(home), landing.stores_file(home)}
    for day in days:
        expected |= {landing.ecom_file(home, day), landing.inventory_file(home, day)}
        expected |= {
            landing.pos_file(home, day, store)
            for store, opened in open_dates.items()
            if date.fromisoformat(opened) <= day
        }
    written = {p for p in landing.landing_root(home).rglob("*") if p.is_file()}
    assert written == expected
    assert summary.files_written == len(expected)
    first_line = landing.pos_file(home, days[0], "S01").read_text().splitlines()[0]
    assert first_line == ",".join(landing.POS_COLUMNS)
    products_header = landing.products_file(home).read_text().splitlines()[0]
    assert products_header == ",".join(landing.PRODUCT_COLUMNS)
    assert tuple(stores.columns) == landing.STORE_COLUMNS
    snapshot = pl.read_parquet(landing.inventory_file(home, days[-1]))
    assert tuple(snapshot.columns) == landing.INVENTORY_COLUMNS
    assert snapshot.schema["snapshot_date"] == pl.Date
    assert snapshot["snapshot_date"].unique().to_list() == [days[-1]]


def test_ecom_lines_carry_exactly_the_source_keys(ecom, generated):
    assert tuple(ecom.columns) == landing.ECOM_COLUMNS
    assert ecom.height == generated[1].ecom_rows > 0
    assert ecom["order_date"].str.to_datetime("%Y-%m-%dT%H:%M:%S").null_count() == 0
    assert ecom["qty"].min() >= 1
    assert ecom["promotion"].dtype == pl.Boolean
    assert ecom["order_line_id"].str.contains(r"^E-\d{4}-\d{2}-\d{2}-\d{5}$").all()


def test_one_pos_row_per_live_store_item_day(pos, products, stores):
    unique = pos.unique("pos_line_id")
    launches = products.select("item_id", launch=pl.col("launch_date").str.to_date())
    opens = stores.select(file_store="store_id", opened=pl.col("open_date").str.to_date())
    per_day = unique.group_by("file_store", "day").len()
    live = (
        pl.DataFrame({"day": [START + timedelta(days=t) for t in range(SHAPE["days"])]})
        .join(opens, how="cross")
        .filter(pl.col("opened") <= pl.col("day"))
        .join(launches, how="cross")
        .filter(pl.col("launch") <= pl.col("day"))
        .group_by("file_store", "day")
        .len()
    )
    assert per_day.sort("file_store", "day").equals(live.sort("file_store", "day"))
    first_sale = (
        unique.join(launches, on="item_id")
        .group_by("item_id")
        .agg(pl.col("day").min(), pl.col("launch").first())
    )
    assert (first_sale["day"] == first_sale["launch"]).all()
    assert (launches["launch"] > START).sum() >= 1  # some items really launch mid-history
    assert (opens["opened"] > START).sum() == 1  # and one store opens later


def test_line_ids_are_unique_apart_from_injected_duplicates(pos, ecom, generated):
    summary = generated[1]
    assert pos.height == summary.pos_rows
    assert pos.height - pos["pos_line_id"].n_unique() == summary.pos_duplicates
    assert ecom.height - ecom["order_line_id"].n_unique() == summary.ecom_duplicates
    assert summary.duplicates > 0
    duplicated = pos.filter(pl.col("pos_line_id").is_duplicated())
    assert duplicated.unique().height == duplicated.height // 2  # exact copies, not new values


def test_injected_bad_rows_match_the_summary(pos, ecom, products, stores, generated):
    summary = generated[1]
    with_base = pos.join(products.select("item_id", "base_price"), on="item_id")
    unknown = ~pl.col("fulfillment_store").is_in(stores["store_id"].to_list())
    found = {
        "negative_units": pos.filter(pl.col("units") < 0).height,
        "zero_price": pos.filter(pl.col("unit_price") == 0).height,
        "absurd_price": with_base.filter(pl.col("unit_price") > 100 * pl.col("base_price")).height,
        "bad_date": pos.filter(pl.col("sale_date").str.to_date(strict=False).is_null()).height,
        "unknown_store": ecom.filter(unknown).height,
    }
    assert found == summary.bad_rows
    assert set(summary.bad_rows) == set(BAD_ROW_KINDS)
    assert summary.bad_rows_total == sum(found.values()) > 0
    assert summary.bad_rows_total < 0.01 * (summary.pos_rows + summary.ecom_rows)


def test_slow_movers_are_zero_heavy(clean_pos):
    zero_share = clean_pos.group_by("item_id").agg((pl.col("units") == 0).mean().alias("zeros"))
    assert zero_share.filter(pl.col("zeros") >= 0.8).height >= 2
    assert clean_pos["units"].max() >= 5  # and some items do sell


def test_weekends_sell_more_than_weekdays(clean_pos):
    weekend = pl.col("day").dt.weekday() >= 6
    means = clean_pos.group_by(weekend.alias("weekend")).agg(pl.col("units").mean())
    by_flag = dict(zip(means["weekend"], means["units"], strict=True))
    assert by_flag[True] > by_flag[False]


def test_promotions_lower_the_price_and_lift_sales(clean_pos, products):
    promoted = clean_pos.filter(pl.col("on_promo") == 1)["item_id"].unique()
    assert promoted.len() >= 2
    same_items = clean_pos.filter(pl.col("item_id").is_in(promoted.to_list()))
    means = same_items.group_by("on_promo").agg(pl.col("units").mean())
    by_flag = dict(zip(means["on_promo"], means["units"], strict=True))
    assert by_flag[1] > by_flag[0]
    prices = same_items.join(products.select("item_id", "base_price"), on="item_id")
    on_promo = prices.filter(pl.col("on_promo") == 1)
    assert (on_promo["unit_price"] < on_promo["base_price"] * 1.1).all()


def test_stores_are_closed_on_christmas(clean_pos):
    christmas = clean_pos.filter(pl.col("day") == date(2024, 12, 25))
    assert christmas.height > 0
    assert christmas["units"].sum() == 0
    eve = clean_pos.filter(pl.col("day") == date(2024, 12, 24))
    assert eve["units"].sum() > 0


def test_every_category_spelling_is_a_known_alias(products):
    aliases = set(pl.read_csv(ALIASES_PATH)["alias"].str.to_lowercase())
    spellings = products["category"].to_list()
    assert all(s.strip().lower() in aliases for s in spellings)
    canonical = {"Electronics", "Grocery", "Household", "Hobbies", "Apparel"}
    assert any(s not in canonical for s in spellings)  # mess is there
    assert sum(s in canonical for s in spellings) > len(spellings) // 2  # but canonical dominates


def test_inventory_is_never_negative_and_gets_replenished(generated):
    folder = landing.landing_root(generated[0]) / landing.INVENTORY
    inventory = pl.read_parquet(str(folder / "*.parquet"))
    assert inventory.height == generated[1].inventory_rows
    assert inventory["qty_on_hand"].min() >= 0
    assert inventory["qty_on_order"].min() >= 0
    assert (inventory["qty_on_order"] > 0).sum() > 0
    restocked = (
        inventory.sort("snapshot_date")
        .group_by("store_code", "product_sku")
        .agg((pl.col("qty_on_hand").diff() > 0).sum().alias("deliveries"))
    )
    assert restocked["deliveries"].sum() > 0


def test_no_in_flight_files_are_left(generated):
    root = landing.landing_root(generated[0])
    assert not [p for p in root.rglob("*") if p.name.endswith(IN_FLIGHT_SUFFIX)]
