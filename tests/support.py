"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
import random
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

from forestall.devices import DYNSEC_PLUGINS
from forestall.state.models import Asset, Customer
from forestall.state.repo import emit_webhook

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A throw-away database on the local PostgreSQL, dropped afterwards."""
    name = f"forestall_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is unreachable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def migrated_state_db(backend: str, folder: Path) -> Iterator[str]:
    """A state DB at the newest schema: a SQLite file in ``folder`` or a throw-away PostgreSQL database."""
    from forestall.state.db import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{folder / 'state.db'}"
        upgrade(url)
        yield url
        return
    with postgres_database() as url:
        upgrade(url)
        yield url


JsonHandler = Callable[[str, str, HTTPMessage, bytes], tuple[int, Any]]


class JsonServer:
    """A real HTTP server on a free local port: every request (method, target, headers, body)
    goes to ``handle``, whose ``(status, body)`` is sent back as JSON."""

    def __init__(self, handle: JsonHandler) -> None:
        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body = handle(self.command, self.path, self.headers, raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer  # noqa: N815 - http.server's names

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, interval: float = 0.1) -> bool:
    """Poll until ``condition`` holds; a generous deadline, never a timing assertion."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def add_customer_with_asset(
    session: Session, asset_id: str, *, criticality: int, visit_sensitivity: float, tenant: str = "acme"
) -> None:
    """A key, gold-tier customer ``c1`` owning one pump at site ``s1``."""
    session.add(
        Customer(
            tenant=tenant,
            id="c1",
            name="Acme",
            segment="key",
            sla_tier="gold",
            visit_sensitivity=visit_sensitivity,
            created_at=time.time(),
        )
    )
    session.add(
        Asset(
            tenant=tenant,
            id=asset_id,
            customer_id="c1",
            asset_type="pump",
            site="s1",
            criticality=criticality,
            safety_critical=False,
            created_at=time.time(),
        )
    )


def new_tenant(prefix: str) -> str:
    """A tenant id of its own, so tests sharing one database keep apart."""
    return f"{prefix}{random.randrange(16**8):08x}"


def emit_events(sessions: sessionmaker[Session], tenant: str, n: int, first: int = 0) -> None:
    """``n`` webhook events of ``tenant`` (``visit.updated``, payload ids ``rec_<first>``…), as the
    predictor emits them: into the outbox, fanned out to the tenant's subscriptions."""
    with sessions.begin() as session:
        for i in range(first, first + n):
            emit_webhook(session, tenant, "visit.updated", 1_800_000_000.0 + i, {"id": f"rec_{i}", "n": i})


def as_grafana_sends(text: str, span: tuple[float, float], interval: str, **variables: str) -> str:
    """An InfluxQL query of a dashboard or alert rule as Grafana sends it: ``$timeFilter`` and the
    range's ends ``${__from}`` ``${__to}`` in epoch ms, ``$__interval`` the interval it would pick,
    the template variables' values regex-escaped."""
    start, end = span
    text = text.replace("$timeFilter", f"time >= {int(start * 1000)}ms and time <= {int(end * 1000)}ms")
    text = text.replace("${__from}", str(int(start * 1000))).replace("${__to}", str(int(end * 1000)))
    text = text.replace("$__interval", interval)
    for name in ("tenant", "customer", "asset"):
        text = text.replace(f"${name}", re.escape(variables.get(name, "")))
    assert "$" not in text.replace("$/", ""), f"a macro left in {text}"
    return text


def dynsec_mosquitto() -> tuple[str, str, str]:
    """Debian's Mosquitto with its dynamic security plugin: (mosquitto, mosquitto_ctrl, plugin)."""
    plugin = next((p for p in DYNSEC_PLUGINS if os.path.exists(p)), None)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    ctrl = shutil.which("mosquitto_ctrl")
    if plugin is None or not os.path.exists(binary) or ctrl is None:
        pytest.fail(
            "needs Mosquitto and its dynamic security plugin (apt-get install mosquitto mosquitto-clients)"
        )
    return binary, ctrl, plugin
