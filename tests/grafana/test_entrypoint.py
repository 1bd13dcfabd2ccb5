"""``grafana/entrypoint.sh``, Grafana's entrypoint in the stack, run with sh: the provisioned
dashboards reach Grafana with the board's address from ``$FORESTALL_BOARD_URL`` (Grafana expands
environment variables in provisioning YAML only), and the datasource token from its file."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from grafana.build import PROVISIONING

SCRIPT = PROVISIONING.parent / "entrypoint.sh"


def _run(tmp_path: Path, board: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "token").write_text("read-token\n")
    env = {
        "PATH": os.environ["PATH"],
        "FORESTALL_DASHBOARDS_SOURCE": str(PROVISIONING / "dashboards" / "forestall"),
        "FORESTALL_DASHBOARDS_DIR": str(tmp_path / "dashboards"),
        "FORESTALL_INFLUXDB_TOKEN_FILE": str(tmp_path / "token"),
        "FORESTALL_BOARD_URL": board,
    }
    command = ["sh", str(SCRIPT), "sh", "-c", 'printf %s "$FORESTALL_INFLUXDB_TOKEN"']
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)


def test_the_dashboards_get_the_board_url_of_the_environment(tmp_path: Path) -> None:
    done = _run(tmp_path, "https://board.example.com/forestall")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "read-token"  # then Grafana starts with the token in its environment
    written = sorted(p.name for p in (tmp_path / "dashboards").iterdir())
    assert written == sorted(p.name for p in (PROVISIONING / "dashboards" / "forestall").glob("*.json"))
    linked = 0
    for path in (tmp_path / "dashboards").iterdir():
        assert "FORESTALL_BOARD_URL" not in path.read_text()
        variables = json.loads(path.read_text()).get("templating", {}).get("list", [])
        if variables:  # the Operations dashboard links to no board
            assert variables[-1]["query"] == "https://board.example.com/forestall"
            linked += 1
    assert linked == 4


def test_an_address_that_would_break_the_substitution_is_refused(tmp_path: Path) -> None:
    done = _run(tmp_path, "https://board.example.com/?a=1&b=2")
    assert done.returncode == 1 and "FORESTALL_BOARD_URL" in done.stderr
