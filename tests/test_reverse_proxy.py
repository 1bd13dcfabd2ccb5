"""``docs/nginx-forestall.conf``, the documented TLS front for the API and Grafana, loaded into
Debian's nginx with only its ports, certificate paths and upstream ports replaced: each host name
reaches its service over TLS with the forwarded headers, plain HTTP is sent to HTTPS, and an
oversized body stops at the proxy."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from forestall.broker import free_port
from tests.conftest import wait_port
from tests.support import JsonServer

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "docs" / "nginx-forestall.conf"
API_HOST, GRAFANA_HOST = "forestall.example.com", "grafana.example.com"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def _certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "fullchain.pem", folder / "privkey.pem"
    subject = ["-subj", f"/CN={API_HOST}", "-addext", f"subjectAltName=DNS:{API_HOST},DNS:{GRAFANA_HOST}"]
    new_key = ["-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        ["openssl", "req", "-x509", *new_key, *subject],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def _config(folder: Path, http_port: int, https_port: int, upstreams: dict[int, int]) -> Path:
    text = SHIPPED.read_text()
    cert, key = _certificate(folder)
    replacements = {
        r"^\s*listen \[::\]:\d+.*\n": "",  # no IPv6 needed here
        r"listen 80;": f"listen 127.0.0.1:{http_port};",
        r"listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        r"/etc/ssl/forestall/fullchain\.pem": str(cert),
        r"/etc/ssl/forestall/privkey\.pem": str(key),
        **{
            rf"http://127\.0\.0\.1:{shipped};": f"http://127.0.0.1:{port};"
            for shipped, port in upstreams.items()
        },
    }
    for pattern, replacement in replacements.items():
        text, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count, f"the shipped nginx config no longer has {pattern!r}"
    (folder / "forestall.conf").write_text(text)
    temp = folder / "temp"
    temp.mkdir()
    main = folder / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\ndaemon off;\nevents {{}}\n"
        + "http {\n  access_log off;\n"
        + "".join(
            f"  {kind}_temp_path {temp}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {folder}/forestall.conf;\n}}\n"
    )
    return main


class Upstream:
    """A real HTTP server standing for the API or Grafana: it records what reaches it."""

    def __init__(self, name: str) -> None:
        self.seen: list[tuple[str, str, Message]] = []

        def handle(method: str, target: str, headers: Any, _body: bytes) -> tuple[int, Any]:
            self.seen.append((method, target, headers))
            return 200, {"service": name}

        self.server = JsonServer(handle)
        self.port = int(self.server.url.rsplit(":", 1)[1])


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[tuple[int, int, Upstream, Upstream]]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(binary):
        pytest.fail("needs nginx (apt-get install nginx)")
    api, grafana = Upstream("api"), Upstream("grafana")
    http_port, https_port = free_port(), free_port()
    main = _config(tmp_path, http_port, https_port, {8000: api.port, 3000: grafana.port})
    arguments = ["-p", str(tmp_path), "-c", str(main)]
    checked = subprocess.run([binary, "-t", *arguments], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen([binary, *arguments], stderr=subprocess.DEVNULL)
    try:
        if not (wait_port(https_port) and wait_port(http_port)):
            pytest.fail(f"nginx did not start: {(tmp_path / 'error.log').read_text()[-800:]}")
        yield http_port, https_port, api, grafana
    finally:
        proc.terminate()
        proc.wait(10)
        api.server.close()
        grafana.server.close()


class _Pinned(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 for a host name (SNI and certificate check on that name)."""

    def connect(self) -> None:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def _https(host: str, port: int, path: str, ca: Path, body: bytes | None = None) -> http.client.HTTPResponse:
    connection = _Pinned(host, port, context=ssl.create_default_context(cafile=str(ca)), timeout=10)
    connection.request("POST" if body is not None else "GET", path, body=body)
    return connection.getresponse()


def test_each_name_reaches_its_service_over_tls(
    proxy: tuple[int, int, Upstream, Upstream], tmp_path: Path
) -> None:
    http_port, https_port, api, grafana = proxy
    ca = tmp_path / "fullchain.pem"  # self-signed: the certificate is its own CA
    answer = _https(API_HOST, https_port, "/healthz", ca)
    assert answer.status == 200 and b'"api"' in answer.read()
    assert answer.getheader("Strict-Transport-Security")
    method, target, headers = api.seen[-1]
    assert (method, target) == ("GET", "/healthz")
    assert headers["Host"] == API_HOST and headers["X-Forwarded-Proto"] == "https"
    assert headers["X-Forwarded-For"] == "127.0.0.1"

    answer = _https(GRAFANA_HOST, https_port, "/api/health", ca)
    assert answer.status == 200 and b'"grafana"' in answer.read()
    assert grafana.seen[-1][2]["Host"] == GRAFANA_HOST and len(api.seen) == 1

    hidden = _https(API_HOST, https_port, "/metrics", ca)
    assert hidden.status == 403 and len(api.seen) == 1  # the metrics stay inside the stack

    too_big = _https(API_HOST, https_port, "/v1/assets", ca, body=b"x" * (1024 * 1024 + 1))
    assert too_big.status == 413 and len(api.seen) == 1  # stopped at the proxy

    plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    plain.request("GET", "/healthz?x=1", headers={"Host": API_HOST})
    redirect = plain.getresponse()
    assert redirect.status == 301
    assert redirect.getheader("Location") == f"https://{API_HOST}/healthz?x=1"
