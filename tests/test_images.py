"""The image and the services built from it: what the build context sends (``.dockerignore``
under Docker's own rules), a non-root user, exact base and service images, dependencies from the
hashed lock, and a restart policy, a memory limit and log rotation on every long-running service
(``docker-compose config``, as Compose renders them)."""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from tests.dockerignore import context, read_ignore_file, tree
from tests.test_compose import REPO, _compose, _env_file, _example

# what an operator's checkout holds besides the repository's own files
PLANTED = [
    ".env",
    ".env.production",
    "certs/server.key",
    "certs/server.crt",
    "certs/ca.crt",
    "secrets/postgres_password",
    ".git/config",
    ".git/objects/ab/cdef",
    ".venv/bin/python",
    ".venv/lib/python3.11/site-packages/x.py",
    "forestall/dev.key",
    "ingest/.env",
    "api/tls/server.pem",
    "forestall.db",
    "forestall-demo-1/state.db",
    "api/__pycache__/app.cpython-311.pyc",
    "predictor/checkpoints/models.sqlite",
]
# major.minor.patch, or a digest; PostgreSQL's releases have two parts (16.9) since version 10
EXACT = r"(:v?\d+\.\d+\.\d+[\w.-]*|^postgres:\d+\.\d+(-[a-z]+)?|@sha256:[0-9a-f]{64})$"
PACKAGES = ("forestall", "programs", "edge_agent", "ingest", "predictor", "api", "simulators", "grafana")


def _sent() -> list[str]:
    patterns = read_ignore_file((REPO / ".dockerignore").read_text())
    return context({*tree(REPO), *PLANTED}, patterns)


def test_the_build_context_holds_no_secret_and_no_local_state() -> None:
    sent = _sent()
    for path in sent:
        parts = path.split("/")
        name = parts[-1]
        assert parts[0] not in (".git", ".venv", "secrets", "certs"), path
        assert not name.startswith(".env"), path
        assert not re.search(r"\.(key|pem|crt|p12|pfx|db|sqlite)$", name), path
        assert "__pycache__" not in parts, path
    assert not set(PLANTED) & set(sent)


def test_the_build_context_holds_what_the_image_installs() -> None:
    sent = set(_sent())
    assert {"pyproject.toml", "README.md", "requirements/server.txt"} <= sent
    for package in PACKAGES:
        sources = {p.relative_to(REPO).as_posix() for p in (REPO / package).rglob("*.py")}
        sources = {s for s in sources if "__pycache__" not in s}
        assert sources and sources <= sent, f"{package}: {sorted(sources - sent)[:5]}"
    data = {p.relative_to(REPO).as_posix() for p in (REPO / "forestall").rglob("*.mako")}
    assert data <= sent  # the migrations' template


def _dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def test_the_image_runs_as_a_user_of_its_own_from_an_exact_base() -> None:
    text = _dockerfile()
    bases = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert bases
    for base in bases:
        assert re.search(EXACT, base), f"floating base image {base}"
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image runs as root"


def test_the_image_installs_the_hashed_lock_and_nothing_else() -> None:
    text = _dockerfile()
    assert "pip install --require-hashes --no-deps -r requirements/server.txt" in text
    installs = re.findall(r"pip install ([^\n\\&]+)", text)
    assert all("--no-deps" in line for line in installs), installs


def _locked() -> dict[str, list[str]]:
    lock = (REPO / "requirements" / "server.txt").read_text()
    pins: dict[str, list[str]] = {}
    for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", lock, re.M):
        pins.setdefault(name.lower().replace("_", "-"), []).append(version)
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock):
        if re.match(r"[A-Za-z0-9]", block):
            assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]}"
    return pins


def test_the_lock_pins_every_dependency_pyproject_declares() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    declared = [
        *project["project"]["dependencies"],
        *project["project"]["optional-dependencies"]["server"],
        *project["build-system"]["requires"],
    ]
    pins = _locked()
    for line in declared:
        requirement = Requirement(line)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in requirements/server.txt (run the command at its top)"
        assert any(requirement.specifier.contains(v, prereleases=True) for v in pins[name]), (
            f"requirements/server.txt pins {name} {pins[name]}, pyproject.toml asks {requirement.specifier}"
        )
        for extra in requirement.extras:  # psycopg[binary]
            assert f"{name}-{extra}" in pins, f"{name}[{extra}] is not in the lock"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    values = _example() | {"SIMULATOR_MQTT_PASSWORD_FILE": "./secrets/sim"}
    rendered = _compose(_env_file(tmp_path_factory.mktemp("env"), values), "--profile", "demo", "config")
    assert rendered.returncode == 0, rendered.stderr
    found: dict[str, Any] = yaml.safe_load(rendered.stdout)["services"]
    return found


def test_every_image_is_pinned_exactly(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if "image" in service:
            assert re.search(EXACT, service["image"]), f"{name}: floating image {service['image']}"
        else:
            assert "build" in service, name


def _bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)b?", str(size).lower()).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit]


def test_every_long_running_service_restarts_is_bounded_and_rotates_its_logs(
    services: dict[str, Any],
) -> None:
    long_running = {n: s for n, s in services.items() if s.get("restart") != "no"}
    expected = {"mosquitto", "postgres", "influxdb", "api", "worker", "grafana", "fleet", "fsm"}
    assert expected <= set(long_running)
    for name, service in long_running.items():
        assert service.get("restart") == "unless-stopped", f"{name} is not restarted"
        assert "mem_limit" in service and _bytes(service["mem_limit"]) >= 64 << 20, f"{name}: no memory limit"
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", f"{name}: no log rotation"
        options = logging.get("options", {})
        assert _bytes(options["max-size"]) <= 100 << 20 and 1 <= int(options["max-file"]) <= 10, name
    one_shot = {n for n, s in services.items() if s.get("restart") == "no"}
    assert one_shot == {"broker-init", "influxdb-init", "migrate", "demo-init", "demo-broker-init"}
