"""The README's guides "Run without Docker" and "Connect a real device", and its API examples,
work as written.

The README marks the blocks to run with an HTML comment on the line before the fence:

- ``<!-- guide: run -->`` before a ```bash block: its commands, run in README order in one
  bash script (``set -euo pipefail``; a command ending in ``&`` keeps running in the background
  for the later blocks);
- ``<!-- guide: file NAME -->`` before a block: the file NAME with that content, written in the
  script's folder before the script runs;
- ``<!-- example: api -->`` before a ```bash block of curl calls: run against a real API (with
  ``$KEY`` an admin key, ``$FSM_KEY`` an fsm key, and ``REC_ID`` an open recommendation), the
  block of the API section first (it registers what the others use), then the rest in order.

The only substitutions: the broker's port 1883 and the API's port 8000 (every such number in
the marked blocks) become free ports, so the test runs next to anything else on the machine.
The script runs in an empty folder with the project's ``forestall`` first on the PATH and no
``FORESTALL_…`` variable inherited. Then the test checks what the guide promises: the replayed
readings are stored and the asset is listed by the API with its customer and type. A README
that drifts from the code (a renamed field, a setting or option that no longer exists, a broken
command) fails here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.server import ApiServer
from forestall.broker import free_port
from forestall.settings import ApiSettings, MqttSettings, Settings, StoreSettings
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.keys import create_key
from tests.support import wait_for

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = re.compile(r"^<!-- (?:guide: (run|file (\S+))|example: (api)) -->$")
FENCE = re.compile(r"^(```|~~~)")


@dataclass(frozen=True, slots=True)
class Block:
    kind: str  # "run" or "file"
    name: str | None  # the file's name
    text: str


def guide_blocks(text: str) -> list[Block]:
    """The marked blocks of ``text``, in order."""
    lines = text.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        match = MARKER.match(line.strip())
        if not match:
            continue
        start = i + 1
        while start < len(lines) and not lines[start].strip():
            start += 1
        assert start < len(lines) and FENCE.match(lines[start]), f"README line {i + 1}: no block after {line}"
        end = next(j for j in range(start + 1, len(lines)) if FENCE.match(lines[j]))
        body = "\n".join(lines[start + 1 : end]) + "\n"
        kind = "api" if match.group(3) else "file" if match.group(2) else "run"
        blocks.append(Block(kind, match.group(2), body))
    return blocks


def test_the_markers_are_read_in_order() -> None:
    text = (
        "a\n<!-- guide: run -->\n```bash\necho 1\n```\n<!-- guide: file x.toml -->\n\n```toml\nk = 1\n```\n"
        "<!-- example: api -->\n```bash\ncurl\n```\n<!-- guide: other -->\n```\nnot this\n```\n"
    )
    assert guide_blocks(text) == [
        Block("run", None, "echo 1\n"),
        Block("file", "x.toml", "k = 1\n"),
        Block("api", None, "curl\n"),
    ]


@dataclass(frozen=True, slots=True)
class Guide:
    folder: Path
    ports: dict[str, int]
    groups: list[int]  # process groups to stop afterwards


@pytest.fixture
def guide(tmp_path: Path) -> Iterator[Guide]:
    """An empty folder and free ports; on teardown every process the guide left running (the
    broker, worker, API and agent it started in the background) is stopped, by process group."""
    guide = Guide(tmp_path, {"mqtt": free_port(), "api": free_port()}, [])
    yield guide
    for group in guide.groups:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            if sig == signal.SIGTERM:
                time.sleep(2.0)


def substituted(text: str, ports: dict[str, int]) -> str:
    text = re.sub(r"\b1883\b", str(ports["mqtt"]), text)
    return re.sub(r"\b8000\b", str(ports["api"]), text)


@pytest.mark.integration
def test_the_run_and_connect_guides_work_as_written(guide: Guide) -> None:
    folder, ports = guide.folder, guide.ports
    blocks = guide_blocks(README.read_text())
    runs = [b for b in blocks if b.kind == "run"]
    files = {b.name: b for b in blocks if b.kind == "file"}
    assert len(runs) >= 4 and "edge.toml" in files, "the README lost its guide markers"
    for name, block in files.items():
        assert name is not None
        (folder / name).write_text(substituted(block.text, ports))
    script = "set -euo pipefail\n" + "".join(substituted(b.text, ports) for b in runs)
    (folder / "guide.sh").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORESTALL_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with (folder / "guide.log").open("wb") as log:
        proc = subprocess.Popen(
            ["bash", "guide.sh"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    guide.groups.append(proc.pid)  # the guide's background processes stay in its group
    try:
        code: int | None = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        code = proc.wait()
    output = (folder / "guide.log").read_text()
    assert code == 0, f"the guide's commands failed (exit {code}):\n{output[-3000:]}"

    key = subprocess.run(
        ["forestall", "keys", "create", "--tenant", "acme", "--role", "dispatcher"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[-1]
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{ports['api']}/v1", headers={"Authorization": f"Bearer {key}"}, timeout=10
    )
    csv_rows = (folder / "samples.csv").read_text().strip().splitlines()[1:]

    def readings() -> list[dict[str, object]]:
        answer = api.get("/assets/pump-0042/telemetry", params={"from": "2026-11-23T00:00:00Z"})
        return list(answer.json()["items"]) if answer.status_code == 200 else []

    assert wait_for(lambda: len(readings()) == len(csv_rows), timeout=30), (
        f"{len(readings())} of {len(csv_rows)} readings stored\n{output[-3000:]}"
    )
    first = readings()[0]
    assert first["ts"] == "2026-11-23T18:00:00.000Z"
    assert first["values"] == {"temp_c": 61.2, "vibration_mm_s": 2.8, "pressure_bar": 4.1}
    listed = {a["id"]: a for a in api.get("/assets").json()["items"]}
    assert listed["pump-0042"]["customer_id"] == "c-100" and listed["pump-0042"]["asset_type"] == "pump"
    assert wait_for(lambda: api.get("/assets/pump-0042").json()["online"] is not None, timeout=15)
    assert "board: http://127.0.0.1:" in output and "?key=fs_" in output
    api.close()


@pytest.fixture
def api_server(state_db_url: str, tmp_path: Path) -> Iterator[ApiServer]:
    settings = Settings(
        database_url=state_db_url,
        api=ApiSettings(host="127.0.0.1", port=free_port()),
        store=StoreSettings(path=tmp_path / "tsdb.sqlite"),
        mqtt=MqttSettings(url="mqtt://127.0.0.1:1"),  # no broker: the examples send no command
    )
    server = ApiServer(settings, deliver_webhooks=False)
    server.start()
    yield server
    server.stop()


@pytest.mark.integration
def test_the_api_examples_run_against_a_real_api(
    api_server: ApiServer, state_db_url: str, tmp_path: Path
) -> None:
    """Every curl example marked ``example: api`` succeeds (``curl -f``: no 4xx or 5xx) in order."""
    engine = make_engine(state_db_url)
    with make_sessionmaker(engine).begin() as session:
        keys = {"KEY": create_key(session, "acme", "admin"), "FSM_KEY": create_key(session, "acme", "fsm")}
    engine.dispose()
    port = api_server.port
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{port}/v1", headers={"Authorization": f"Bearer {keys['KEY']}"}
    )
    # an open recommendation of the tests' own, for the examples that act on one (REC_ID)
    api.post("/customers", json={"id": "t-1", "name": "Test"}).raise_for_status()
    api.post("/assets", json={"id": "t-pump", "customer_id": "t-1"}).raise_for_status()
    window = {"window_start": "2026-12-01T00:00:00Z", "window_end": "2026-12-02T00:00:00Z"}
    rec = api.post("/recommendations", json={"asset_ids": ["t-pump"], **window})
    rec.raise_for_status()
    examples = [b for b in guide_blocks(README.read_text()) if b.kind == "api"]
    reference = [b for b in examples if b.text.startswith("API=")]
    assert len(reference) == 1 and len(examples) >= 3, "the README lost its API example markers"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FORESTALL_")}, **keys}
    for block in reference + [b for b in examples if b not in reference]:
        script = re.sub(r"\b8000\b", str(port), block.text).replace("REC_ID", rec.json()["id"])
        done = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + script],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (
            f"{block.text}\nexit {done.returncode}: {done.stdout[-1500:]}{done.stderr}"
        )
    assert api.get(f"/recommendations/{rec.json()['id']}").json()["status"] == "completed"
    assets = {a["id"]: a for a in api.get("/assets", params={"customer": "c-100"}).json()["items"]}
    assert assets["pump-0042"]["criticality"] == 4
    assert api.get("/customers/c-100").json()["sla_tier"] == "platinum"  # the PATCH example
    api.close()
