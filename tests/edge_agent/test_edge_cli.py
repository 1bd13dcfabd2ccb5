"""``forestall edge`` as a process: help, config errors, SIGKILL/restart, SIGTERM, import weight."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from forestall.contract import parse_telemetry
from tests.edge_agent.edge_support import (
    BASE,
    T0,
    Collector,
    unique_by_seq,
    wait_until,
)

pytestmark = pytest.mark.integration

ROWS = 600
HEAVY = {
    "pydantic",
    "pydantic_settings",
    "fastapi",
    "starlette",
    "river",
    "sqlalchemy",
    "alembic",
    "uvicorn",
    "influxdb_client",
    "amqtt",
    "httpx",
}


def write_config(tmp_path: Path, url: str, *, speed: float = 100.0, tenant: str = "acme") -> Path:
    (tmp_path / "samples.csv").write_text(
        "ts,temp_c,vibration_mm_s\n" + "".join(f"{T0 + i},{60 + i / 10},{i % 5}\n" for i in range(ROWS))
    )
    config = tmp_path / "edge.toml"
    config.write_text(
        f'[mqtt]\nurl = "{url}"\nreconnect_min_s = 0.2\nreconnect_max_s = 0.5\n'
        f'[agent]\ntenant = "{tenant}"\nasset = "pump-0042"\nbuffer_path = "buffer.db"\n'
        "batch_max_age_s = 0.05\n"
        f'[[sensors]]\ndriver = "replay"\npath = "samples.csv"\nspeed = {speed}\n'
    )
    return config


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_help(edge_command: list[str]) -> None:
    result = subprocess.run([*edge_command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--config FILE" in result.stdout


def test_a_bad_config_is_one_line_naming_the_key_and_exit_2(edge_command: list[str], tmp_path: Path) -> None:
    config = write_config(tmp_path, "mqtt://127.0.0.1:1", tenant="acme corp")
    result = subprocess.run(
        [*edge_command, "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "forestall edge: error: agent.tenant: must match [A-Za-z0-9_-]{1,64}"
    ]


def test_a_missing_driver_file_is_a_config_error(edge_command: list[str], tmp_path: Path) -> None:
    config = write_config(tmp_path, "mqtt://127.0.0.1:1")
    (tmp_path / "samples.csv").unlink()
    result = subprocess.run(
        [*edge_command, "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.startswith("forestall edge: error: sensors[0].path: cannot read")


def telemetry_stamps(sub: Collector) -> list[float]:
    batches = unique_by_seq(sub.telemetry())
    return [s.ts for b in batches for s in parse_telemetry(json.dumps(b).encode(), asset="pump-0042").samples]


def last_status(sub: Collector) -> dict[str, Any] | None:
    statuses = sub.on("status")
    return statuses[-1].json() if statuses else None


def test_sigkill_and_restart_lose_nothing_and_sigterm_stops_cleanly(
    edge_command: list[str],
    mosquitto: Any,
    tmp_path: Path,
    collector: Callable[[str, list[str]], Collector],
    processes: list[subprocess.Popen[bytes]],
) -> None:
    sub = collector(mosquitto.url, [f"{BASE}/telemetry", f"{BASE}/status"])
    command = [*edge_command, "--config", str(write_config(tmp_path, mosquitto.url))]
    processes.append(subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.DEVNULL))
    wait_until(lambda: len(telemetry_stamps(sub)) >= 150, what="the first 150 samples")
    processes[0].send_signal(signal.SIGKILL)
    processes[0].wait()
    wait_until(lambda: (last_status(sub) or {}).get("state") == "offline", what="the will after SIGKILL")
    assert len(telemetry_stamps(sub)) < ROWS, "the kill must land mid-stream"

    processes.append(subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.DEVNULL))
    wait_until(lambda: len(telemetry_stamps(sub)) >= ROWS, what="every sample after the restart")
    wait_until(lambda: (last_status(sub) or {}).get("state") == "online", what="online again")
    processes[1].send_signal(signal.SIGTERM)
    assert processes[1].wait(timeout=30) == 0

    # Exactly once after dedupe by seq, in order: no sample lost, none re-read under a new seq.
    assert telemetry_stamps(sub) == [T0 + i for i in range(ROWS)]
    assert last_status(sub) == {"schema": "forestall.status/1", "state": "offline", "agent": "0.1.0"}


LIGHT_RUN = """
import json, os, signal, sys, threading
import programs.cli as cli
cli.server_installed = lambda: False  # what an edge-only install (forestall[edge]) runs
threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
code = cli.main(["edge", "--config", sys.argv[1]])
print(json.dumps({"code": code, "modules": sorted({name.split(".")[0] for name in sys.modules})}))
"""


def test_the_edge_stays_light(tmp_path: Path, mosquitto: Any) -> None:
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, json, edge_agent.agent, edge_agent.cli; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert HEAVY.isdisjoint(name.split(".")[0] for name in json.loads(imported.stdout))
    config = write_config(tmp_path, mosquitto.url)
    ran = subprocess.run(
        [sys.executable, "-c", LIGHT_RUN, str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    assert "paho" in result["modules"] and "edge_agent" in result["modules"]  # it really ran the agent
    assert HEAVY.isdisjoint(result["modules"])
