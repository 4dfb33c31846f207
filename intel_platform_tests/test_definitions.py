"""Every code location in workspace.yaml loads, fast, with the metadata users rely on."""

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "intel_platform"
HEAVY = {"lightgbm", "prophet", "mlflow", "sklearn", "matplotlib"}


def _locations() -> list[str]:
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    return [entry["python_module"]["module_name"] for entry in workspace["load_from"]]


@pytest.fixture(params=_locations())
def location_defs(request, home) -> dg.Definitions:
    return importlib.import_module(request.param).defs()


def test_every_location_resolves_with_product_prefixed_three_part_keys(location_defs):
    graph = location_defs.resolve_asset_graph()
    keys = list(graph.get_all_asset_keys())
    assert keys
    products = {key.path[0] for key in keys}
    assert len(products) == 1 and all(len(key.path) == 3 for key in keys)
    for key in keys:
        assert key.path[1] in {"raw", "harmonized", "labels", "features", "models", "forecasts",
                               "scores", "decisions", "monitoring"}, key  # fmt: skip


def test_every_asset_has_owner_kinds_code_version_and_description(location_defs):
    for spec in location_defs.resolve_all_asset_specs():
        name = spec.key.to_user_string()
        assert spec.owners, name
        assert spec.kinds, name
        assert spec.code_version, name
        assert spec.description, name
        assert spec.group_name == "_".join(spec.key.path[:2]), name


def test_harmonized_tables_have_blocking_contract_checks(location_defs):
    graph = location_defs.resolve_asset_graph()
    blocking = {
        key.asset_key.path[-1]
        for key in graph.asset_check_keys
        if graph.get_check_spec(key).blocking and key.name.endswith("_contract")
    }
    harmonized = {
        key.path[-1]
        for key in graph.get_all_asset_keys()
        if key.path[1] == "harmonized" and not key.path[-1].endswith("_quarantine")
    }
    assert harmonized and harmonized <= blocking


@pytest.mark.parametrize("module", _locations())
def test_location_loads_without_heavy_libraries(module, home):
    """What keeps a location's load fast; the seconds are printed by scripts/load_time.py."""
    code = (
        "import sys, importlib; "
        f"importlib.import_module('{module}').defs(); "
        f"print(sorted(m for m in {sorted(HEAVY)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_no_product_and_products_import_no_other_product():
    products = [p.name for p in PACKAGE.iterdir() if (p / "definitions.py").exists()]
    for path in (PACKAGE / "core").rglob("*.py"):
        assert not any(
            name.startswith(f"intel_platform.{product}") for name in _imports(path)
            for product in products
        ), path  # fmt: skip
    for product in products:
        others = [p for p in products if p != product]
        for path in (PACKAGE / product).rglob("*.py"):
            for name in _imports(path):
                assert not any(name.startswith(f"intel_platform.{o}") for o in others), path


@pytest.mark.parametrize("module", _locations())
def test_loading_a_location_imports_no_other_product(module, home):
    """Each location redeploys alone: loading it never pulls another product's modules in."""
    product = module.split(".")[1]
    code = (
        "import sys, importlib; "
        f"importlib.import_module('{module}').defs(); "
        "print(sorted({m.split('.')[1] for m in sys.modules "
        "if m.startswith('intel_platform.') and m.count('.') >= 1}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(ast.literal_eval(out.stdout)) == {"core", product}


def test_workspace_validates_with_the_dagster_cli(home):
    dagster = Path(sys.executable).with_name("dagster")
    out = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(REPO / "workspace.yaml")],
        capture_output=True, text=True, cwd=REPO, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
