"""``docker-compose.yml`` validated by Debian's ``docker-compose`` (no engine needed).

``.env.example`` as it is documented (production secret files named, the demo's and Grafana's
alert key blank) gives a valid stack, and with the demo profile and every value set so does it;
no service outside the demo profile knows the demo's credential; without a production secret it
refuses to start; no secret is written in the file; passwords reach the services as files and the
URLs Forestall builds from them work whatever their characters.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from forestall.mqtturl import parse_mqtt_url
from forestall.settings import Settings
from programs.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
EXAMPLE = REPO / ".env.example"
DEMO_ONLY = {"SIMULATOR_MQTT_PASSWORD_FILE"}
LATER = {"GRAFANA_ALERT_TOKEN", "OPS_EMAIL"}  # made once the stack runs; set with an SMTP server
DEMO_SERVICES = {"demo-broker-init", "demo-init", "fleet", "fsm"}
AWKWARD = "p/@#:w%?&=+ x"  # a password no URL takes unencoded


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


def _example() -> dict[str, str]:
    return dict(re.findall(r"^([A-Z_]+)=(.*)$", EXAMPLE.read_text(), re.M))


def _rendered(env_file: Path, *profile: str) -> dict[str, Any]:
    rendered = _compose(env_file, *profile, "config")
    assert rendered.returncode == 0, rendered.stderr
    config: dict[str, Any] = yaml.safe_load(rendered.stdout)
    return config


def _env_file(folder: Path, values: dict[str, str]) -> Path:
    path = folder / "filled.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def _secret_names(service: dict[str, Any]) -> set[str]:
    return {s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])}


def test_the_example_env_as_documented_starts_production_without_a_demo_credential(tmp_path: Path) -> None:
    example = _example()
    blank = {name for name, value in example.items() if not value}
    assert blank == DEMO_ONLY | LATER  # every production value is set as shipped
    config = _rendered(_env_file(tmp_path, example))
    services: dict[str, Any] = config["services"]
    assert {"mosquitto", "postgres", "influxdb", "migrate", "api", "worker", "grafana"} <= set(services)
    grafana = services["grafana"]["environment"]
    assert grafana["FORESTALL_OPS_EMAIL"]  # Grafana refuses an e-mail contact point without an address
    assert grafana["FORESTALL_BOARD_URL"] == example["BOARD_URL"]  # grafana/entrypoint.sh fills it in
    assert grafana["FORESTALL_METRICS_URL"] == "http://victoriametrics:8428"
    for name, service in services.items():
        if name in DEMO_SERVICES:
            assert service.get("profiles") == ["demo"], f"{name} runs without the demo profile"
            continue
        assert "simulator_mqtt_password" not in _secret_names(service), f"{name} knows the demo credential"
        assert "SIMULATOR" not in yaml.safe_dump(service), f"{name} knows the demo credential"
        assert "profiles" not in service
    # the plain-HTTP ports are published on loopback only, for a TLS proxy in front (mosquitto: TLS)
    published = {
        name: [p if isinstance(p, str) else f"{p.get('host_ip', '')}:{p['published']}" for p in s["ports"]]
        for name, s in services.items()
        if "ports" in s
    }
    assert published.keys() == {"mosquitto", "api", "grafana"}
    for name in ("api", "grafana"):
        assert all(port.startswith("127.0.0.1:") for port in published[name]), published[name]
    # each production secret is the file .env names, and some service uses it
    used = set().union(*(_secret_names(s) for s in services.values()))
    for secret, spec in config["secrets"].items():
        assert secret in used
        if secret != "simulator_mqtt_password":
            variable = f"{secret.upper()}_FILE"
            assert Path(spec["file"]) == (REPO / example[variable]).resolve()


def test_the_demo_profile_with_every_value_set(tmp_path: Path) -> None:
    values = _example() | {"SIMULATOR_MQTT_PASSWORD_FILE": "./secrets/sim", "GRAFANA_ALERT_TOKEN": "key-x"}
    checked = _compose(_env_file(tmp_path, values), "--profile", "demo", "config", "-q")
    assert checked.returncode == 0, checked.stderr
    config = _rendered(_env_file(tmp_path, values), "--profile", "demo")
    services: dict[str, Any] = config["services"]
    assert set(services) >= DEMO_SERVICES
    assert Path(config["secrets"]["simulator_mqtt_password"]["file"]) == REPO / "secrets" / "sim"
    assert services["grafana"]["environment"]["FORESTALL_ALERT_TOKEN"] == "key-x"
    for name in ("fleet", "fsm", "demo-broker-init"):
        assert "simulator_mqtt_password" in _secret_names(services[name])
    for name, service in services.items():
        # everything that keeps running says when it is healthy (the fleet simulator serves nothing)
        if service.get("restart") != "no" and name != "fleet":
            assert "healthcheck" in service, f"{name} has no health check"
    # docker-compose 1.x renders a volume as "source:target:mode", 2.x as a mapping
    grafana_volumes = [
        v.split(":")[0] if isinstance(v, str) else v["source"] for v in services["grafana"]["volumes"]
    ]
    assert str(REPO / "grafana" / "provisioning") in grafana_volumes
    # the simulated fleet replays the past up to now, then runs live: its readings are never in
    # the future, where Grafana (dashboards and rules read up to now) would not show them
    script = " ".join(services["fleet"]["command"])
    argv = shlex.split(script.split("exec ", 1)[1].replace('"$(cat /demo/admin.key)"', "key"))
    assert argv[:3] == ["forestall", "simulate", "fleet"]
    args = build_parser().parse_args(argv[1:])
    assert args.behind * 3600 >= 7 * 86400 and args.start is None  # a week or more of history


@pytest.mark.parametrize(
    "missing", sorted(n for n in _example() if n.endswith("_FILE") and n not in DEMO_ONLY)
)
def test_without_a_production_secret_it_refuses_to_start(tmp_path: Path, missing: str) -> None:
    values = {name: value for name, value in _example().items() if name != missing}
    refused = _compose(_env_file(tmp_path, values), "config", "-q")
    assert refused.returncode != 0 and "set it in .env" in refused.stderr
    assert missing in refused.stderr


def test_no_secret_is_written_in_the_file() -> None:
    text = COMPOSE.read_text()
    for line in text.splitlines():
        if re.search(r"(PASSWORD|TOKEN)[A-Z_]*:\s", line):
            value = line.split(":", 1)[1].strip()
            # a secret reaches a service as a file (/run/secrets/…, or the InfluxDB tokens their
            # init step made in /tokens) or, for the alert key made after the first start, from .env
            assert value.startswith(("/run/secrets/", "/run/influxdb-token/", "/tokens")) or re.fullmatch(
                r"\$\{[A-Z_]+(:[?-][^}]*)?\}", value
            ), f"a secret in docker-compose.yml: {line.strip()}"
        assert not re.search(r"://[^:/@\s]+:[^@\s]+@", line), f"a password in a URL: {line.strip()}"


@pytest.mark.parametrize("service", ["api", "worker", "migrate", "fleet"])
def test_each_services_secrets_give_working_urls(
    tmp_path: Path, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service's environment as Compose renders it, its secret files holding a password with
    ``/@#:``: the settings Forestall builds from it connect with exactly that password."""
    values = _example() | {"SIMULATOR_MQTT_PASSWORD_FILE": "./secrets/sim"}
    config = _rendered(_env_file(tmp_path, values), "--profile", "demo")
    environment: dict[str, str] = config["services"][service]["environment"]
    secrets_dir = tmp_path / "run-secrets"
    secrets_dir.mkdir()
    for name in _secret_names(config["services"][service]):
        (secrets_dir / name).write_text(AWKWARD + "\n")
    for name in [n for n in os.environ if n.startswith("FORESTALL_")]:
        monkeypatch.delenv(name)
    (tmp_path / "influxdb-token").mkdir()  # what influxdb-init writes into the client's volume
    (tmp_path / "influxdb-token" / "token").write_text(AWKWARD + "\n")
    for name, value in environment.items():
        value = str(value).replace("/run/secrets/", f"{secrets_dir}/")
        monkeypatch.setenv(name, value.replace("/run/influxdb-token/", f"{tmp_path}/influxdb-token/"))
    settings = Settings()
    if "FORESTALL_MQTT__PASSWORD_FILE" in environment:
        assert parse_mqtt_url(settings.mqtt.url).password == AWKWARD
    if service == "worker":
        assert settings.worker.guard_url is not None
        assert parse_mqtt_url(settings.worker.guard_url).password == AWKWARD
    if "FORESTALL_DATABASE_URL" in environment:
        from sqlalchemy.engine import make_url

        assert make_url(settings.database_url).password == AWKWARD
    if "FORESTALL_INFLUXDB__TOKEN_FILE" in environment:
        assert settings.influxdb.token == AWKWARD


def _mounts(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """volume source → (target, read-only), as 1.29 ("src:dst:ro") or v2 (mappings) renders it."""
    found = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            found[source] = (target, mode == ["ro"])
        else:
            found[volume["source"]] = (volume["target"], bool(volume.get("read_only")))
    return found


def test_only_influxdb_and_its_init_step_hold_the_operator_token(tmp_path: Path) -> None:
    config = _rendered(
        _env_file(tmp_path, _example() | {"SIMULATOR_MQTT_PASSWORD_FILE": "./s"}), "--profile", "demo"
    )
    services: dict[str, Any] = config["services"]
    holders = {name for name, service in services.items() if "influxdb_admin_token" in _secret_names(service)}
    assert holders == {"influxdb", "influxdb-init"}
    for client in ("grafana", "api", "worker"):
        volume = f"{client}-influxdb-token"
        mounted = {name for name, service in services.items() if volume in _mounts(service)}
        assert mounted == {"influxdb-init", client}, f"{volume} is mounted by {mounted}"
        assert _mounts(services[client])[volume] == ("/run/influxdb-token", True)
        assert _mounts(services["influxdb-init"])[volume][0] == f"/tokens/{client}"
    for client in ("api", "worker"):
        assert (
            services[client]["environment"]["FORESTALL_INFLUXDB__TOKEN_FILE"] == "/run/influxdb-token/token"
        )
        assert (
            services[client]["depends_on"]["influxdb-init"]["condition"] == "service_completed_successfully"
        )


def test_the_documented_secret_files_are_the_stacks() -> None:
    """The loop that makes the secret files (.env.example, docs/OPERATIONS.md) makes every
    production secret the compose file reads, and .env names each."""
    config = yaml.safe_load(COMPOSE.read_text())
    production = set(config["secrets"]) - {"simulator_mqtt_password"}
    for doc in (EXAMPLE, REPO / "docs" / "OPERATIONS.md"):
        loop = re.search(r"for name in (.*?); do", doc.read_text(), re.S)
        assert loop is not None, doc
        made = set(re.sub(r"[\\#\n]", " ", loop.group(1)).split())
        assert made == production, f"{doc.name}: {sorted(made ^ production)}"
    assert {f"{name.upper()}_FILE" for name in production} <= set(_example())
