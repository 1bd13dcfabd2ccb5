"""Fixtures for the time-series servers: VictoriaMetrics and InfluxDB 1.6 (docs/ARCHITECTURE.md, tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from forestall.broker import free_port
from forestall.settings import InfluxSettings
from tests.conftest import wait_port


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
        if found:
            return found
    pytest.fail(f"{names[0]} is not installed (Debian packages victoria-metrics, influxdb)")


def _wait_http(url: str, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=2).status_code < 300:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


class VictoriaMetrics:
    """A real VictoriaMetrics on a free port; stop()/start() keep its data directory."""

    def __init__(self, workdir: Path) -> None:
        self.binary = _binary("victoria-metrics", "victoria-metrics-prod")
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.dir / "vm.log", "ab")  # noqa: SIM115 - the process owns it
        self.proc = subprocess.Popen(
            [
                self.binary,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.dir / 'data'}",
                "-retentionPeriod=100y",
            ],
            stdout=log,
            stderr=log,
        )
        if not _wait_http(f"{self.url}/health"):
            raise RuntimeError(f"victoria-metrics did not start: {(self.dir / 'vm.log').read_text()[-800:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def metric(self, name: str) -> float:
        """Sum of a metric of VictoriaMetrics itself over all its labels."""
        total = 0.0
        for line in httpx.get(f"{self.url}/metrics", timeout=10).text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def export(self, match: str) -> list[dict[str, object]]:
        """Every stored sample of the series matching ``match`` (after a forced flush)."""
        import json

        httpx.get(f"{self.url}/internal/force_flush", timeout=30)
        text = httpx.post(f"{self.url}/api/v1/export", data={"match[]": match}, timeout=30).text
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    server = VictoriaMetrics(tmp_path / "vm")
    yield server
    server.stop()


class InfluxDB1:
    """A real InfluxDB 1.6 (``influxd``) with every port and directory in a temp dir; with
    ``admin`` (user, password), authentication is on and that user is its admin."""

    def __init__(self, workdir: Path, admin: tuple[str, str] | None = None) -> None:
        self.admin = admin
        self.binary = _binary("influxd")
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port, self.rpc_port = free_port(), free_port()
        conf = self.dir / "influxdb.conf"
        conf.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{self.dir}/meta"\n'
            f'[data]\n  dir = "{self.dir}/data"\n  wal-dir = "{self.dir}/wal"\n'
            "  query-log-enabled = false\n"
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            f"  auth-enabled = {'true' if admin else 'false'}\n"
            "[monitor]\n  store-enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
        )
        log = open(self.dir / "influxd.log", "ab")  # noqa: SIM115 - the process owns it
        self.proc = subprocess.Popen([self.binary, "-config", str(conf)], stdout=log, stderr=log)
        if not wait_port(self.port, timeout=60) or not _wait_http(f"{self.url}/ping"):
            self.stop()
            raise RuntimeError(f"influxd did not start: {(self.dir / 'influxd.log').read_text()[-800:]}")
        if admin:  # the first admin may be created without credentials
            self.query(f"CREATE USER \"{admin[0]}\" WITH PASSWORD '{admin[1]}' WITH ALL PRIVILEGES", auth=())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, q: str, db: str | None = None, auth: tuple[str, ...] | None = None) -> dict[str, object]:
        """Run ``q`` as the admin, or as ``auth`` (user, password); ``()`` sends no credential."""
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        credential = self.admin if auth is None else auth
        if credential:
            params["u"], params["p"] = credential
        response = httpx.post(f"{self.url}/query", params=params, timeout=30)
        response.raise_for_status()
        result: dict[str, object] = response.json()
        return result

    def rows(self, q: str, db: str = "forestall") -> list[dict[str, Any]]:
        """Every row of every series ``q`` answers, each with its series' tags; ``time`` in seconds."""
        rows: list[dict[str, Any]] = []
        for statement in self.query(q, db=db)["results"]:  # type: ignore[attr-defined]
            assert "error" not in statement, (q, statement)
            for series in statement.get("series", []):
                for values in series["values"]:
                    row = dict(zip(series["columns"], values, strict=True))
                    if "time" in row:  # SHOW queries have none
                        row["time"] = row["time"] / 1e9
                    rows.append({**series.get("tags", {}), **row})
        return rows

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


# The only tests CI may skip (docs/ARCHITECTURE.md, tests): InfluxDB 2.x does not run on these machines.
needs_influxdb2 = pytest.mark.skipif(
    not os.environ.get("FORESTALL_TEST_INFLUXDB_URL"),
    reason="needs a real InfluxDB 2.x: FORESTALL_TEST_INFLUXDB_URL",
)


def influxdb2_settings(**overrides: object) -> InfluxSettings:
    """The InfluxDB 2.x that ``FORESTALL_TEST_INFLUXDB_{URL,ORG,BUCKET,TOKEN}`` name."""
    env = os.environ
    values: dict[str, object] = {
        "url": env["FORESTALL_TEST_INFLUXDB_URL"],
        "org": env.get("FORESTALL_TEST_INFLUXDB_ORG", "forestall"),
        "bucket": env.get("FORESTALL_TEST_INFLUXDB_BUCKET", "forestall"),
        "token": env.get("FORESTALL_TEST_INFLUXDB_TOKEN", ""),
        "flush_interval_s": 0.2,
        "timeout_s": 5.0,
        "max_retry_delay_s": 1.0,
        **overrides,
    }
    return InfluxSettings.model_validate(values)


@pytest.fixture
def influxdb1(tmp_path: Path) -> Iterator[InfluxDB1]:
    server = InfluxDB1(tmp_path / "influxdb")
    yield server
    server.stop()
