"""`make ui`: the webserver and daemon start on loopback and every code location loads."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
QUERY = "{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError { __typename } } } } }"  # noqa: E501


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.load(response)


# A shell that backgrounds this test leaves SIGINT/SIGTERM ignored, and dagster dev would
# inherit that; this wrapper resets them and execs the command (no thread-unsafe preexec_fn).
DEFAULT_SIGNALS = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "signal.signal(signal.SIGTERM, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
)


@pytest.fixture
def dagster_dev(home, tmp_path):
    port = _free_port()
    dagster = Path(sys.executable).with_name("dagster")
    log = (tmp_path / "dagster_dev.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", DEFAULT_SIGNALS, str(dagster), "dev", "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "DAGSTER_HOME": str(home.dagster_home)},
    )  # fmt: skip
    try:
        yield port, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def test_dagster_dev_serves_every_code_location(dagster_dev):
    port, process = dagster_dev
    deadline = time.monotonic() + 90
    answer = None
    while time.monotonic() < deadline and process.poll() is None:
        try:
            answer = _graphql(port)
            entries = answer["data"]["workspaceOrError"]["locationEntries"]
            if entries and all(e["locationOrLoadError"] for e in entries):
                break
        except (OSError, KeyError, TypeError):
            pass
        time.sleep(1)
    entries = answer["data"]["workspaceOrError"]["locationEntries"]
    loaded = {e["name"]: e["locationOrLoadError"]["__typename"] for e in entries}
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"]
    names = [entry["python_module"]["location_name"] for entry in workspace]
    assert loaded == dict.fromkeys(names, "RepositoryLocation")
