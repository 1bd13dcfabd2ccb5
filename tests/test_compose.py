"""``docker-compose.yml`` validated by Debian's ``docker-compose`` (no engine needed): with every
secret of ``.env.example`` set it is valid, also with the demo profile; without them it refuses
to start; no secret is written in the file itself."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"


def _compose(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("needs docker-compose (apt-get install docker-compose)")
    return subprocess.run(
        [binary, "--project-directory", str(REPO), "-f", str(COMPOSE), "--env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _secrets() -> dict[str, str]:
    names = re.findall(r"^([A-Z_]+)=$", (REPO / ".env.example").read_text(), re.M)
    return {name: f"secret-{name.lower()}" for name in names}


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / "filled.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in _secrets().items()) + "MOSQUITTO_CERTS_DIR=./certs\n")
    return path


def test_the_stack_is_valid_with_every_secret_set(env_file: Path) -> None:
    for profile in ((), ("--profile", "demo")):
        checked = _compose(env_file, *profile, "config", "-q")
        assert checked.returncode == 0, checked.stderr
    rendered = _compose(env_file, "--profile", "demo", "config")
    assert rendered.returncode == 0, rendered.stderr
    services: dict[str, Any] = yaml.safe_load(rendered.stdout)["services"]
    assert {
        "mosquitto",
        "postgres",
        "influxdb",
        "migrate",
        "api",
        "worker",
        "grafana",
        "fleet",
        "fsm",
    } <= set(services)
    for name, service in services.items():
        # everything that keeps running says when it is healthy (the fleet simulator serves nothing)
        if service.get("restart") != "no" and name != "fleet":
            assert "healthcheck" in service, f"{name} has no health check"
    # docker-compose 1.x renders a volume as "source:target:mode", 2.x as a mapping
    grafana_volumes = [
        v.split(":")[0] if isinstance(v, str) else v["source"] for v in services["grafana"]["volumes"]
    ]
    assert str(REPO / "grafana" / "provisioning") in grafana_volumes
    for secret in _secrets().values():  # each reached its service from the env file
        assert secret in rendered.stdout


def test_without_the_secrets_it_refuses_to_start(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    refused = _compose(empty, "config", "-q")
    assert refused.returncode != 0 and "set it in .env" in refused.stderr


def test_no_secret_is_written_in_the_file() -> None:
    text = COMPOSE.read_text()
    for line in text.splitlines():
        if re.search(r"(PASSWORD|TOKEN)[A-Z_]*:\s", line):
            value = line.split(":", 1)[1].strip()
            assert re.fullmatch(r"\$\{[A-Z_]+(:[?-][^}]*)?\}", value), (
                f"a secret in docker-compose.yml: {line.strip()}"
            )
        for password in re.findall(r"://[^:/@\s]+:([^@\s]+)@", line):  # credentials inside URLs
            assert re.fullmatch(r"\$\{[A-Z_]+\}", password), f"a password in a URL: {line.strip()}"
