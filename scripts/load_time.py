"""Seconds to import and build each code location of workspace.yaml, in a fresh interpreter
each (what `dagster dev` and a code server pay on every reload). Prints one line per location."""

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CODE = (
    "import time; t = time.perf_counter(); import importlib; "
    "importlib.import_module('{module}').defs(); print(f'{{time.perf_counter() - t:.2f}}')"
)


def main() -> None:
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    for entry in workspace["load_from"]:
        module = entry["python_module"]["module_name"]
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-W", "ignore", "-c", CODE.format(module=module)],
                    capture_output=True, text=True, check=True,
                ).stdout.strip()
            )
            for _ in range(3)
        ]  # fmt: skip
        print(f"{module:<40} best of 3: {min(runs):.2f} s  (runs: {runs})")


if __name__ == "__main__":
    main()
