"""A receiver that fails, times out, goes down and comes back gets every event, each
webhook-id accepted once; and the default retry schedule outlasts a one-hour outage."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook

from api.webhooks.dispatcher import WebhookDispatcher
from api.webhooks.policy import backoff_delay
from forestall.broker import free_port
from forestall.settings import LOOPBACK, ApiSettings
from forestall.state.models import DeliveryAttempt, OutboxEvent, WebhookDelivery, WebhookSubscription
from tests.api.conftest import wait_until
from tests.conftest import WEBHOOK_SECRET
from tests.support import emit_events, new_tenant

TIMEOUT_S = 0.5


class FlakyReceiver:
    """A real HTTP receiver on a fixed port: answers 500 ``fail`` times, then hangs past the
    sender's timeout ``hang`` times, then accepts (204) what ``standardwebhooks`` verifies
    (401 otherwise). ``down()`` closes the port, ``up()`` listens on it again."""

    def __init__(self, fail: int, hang: int) -> None:
        self.port = free_port()
        self.verifier = Webhook(WEBHOOK_SECRET)
        self.fail, self.hang = fail, hang
        self.accepted: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.up()

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    if receiver.fail > 0:
                        receiver.fail, answer = receiver.fail - 1, "fail"
                    elif receiver.hang > 0:
                        receiver.hang, answer = receiver.hang - 1, "hang"
                    else:
                        answer = "accept"
                if answer == "hang":
                    time.sleep(TIMEOUT_S * 3)  # the sender gave up long ago; so do we
                    code = 500
                elif answer == "fail":
                    code = 500
                else:
                    try:
                        receiver.verifier.verify(body, headers)
                        code = 204
                    except Exception:
                        code, answer = 401, "unverified"
                with receiver.lock:
                    receiver.answers[answer] += 1
                    if code == 204:
                        receiver.accepted[headers["webhook-id"]] += 1
                try:
                    self.send_response(code)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender timed out and hung up

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def test_a_receiver_that_fails_times_out_and_comes_back_gets_every_event_once(
    spare: sessionmaker[Session],
) -> None:
    tenant = new_tenant("o")
    receiver = FlakyReceiver(fail=15, hang=4)
    with spare.begin() as session:
        session.add(
            WebhookSubscription(
                id=f"wh_{tenant}",
                tenant=tenant,
                url=receiver.url,
                events=[],
                secret=WEBHOOK_SECRET,
                active=True,
                created_at=time.time(),
            )
        )
    settings = ApiSettings(
        webhook_max_attempts=30,
        webhook_backoff_s=0.05,
        webhook_timeout_s=TIMEOUT_S,
        webhook_allowed_networks=[LOOPBACK],
    )
    dispatcher = WebhookDispatcher(spare, settings, concurrency=8, poll_interval_s=0.05)
    emit_events(spare, tenant, 10, first=0)
    dispatcher.start()
    try:
        wait_until(lambda: receiver.answers["hang"] >= 4, what="the receiver to fail and time out")
        receiver.down()
        emit_events(spare, tenant, 10, first=10)  # events keep coming while it is down
        dispatcher.wake()
        wait_until(lambda: _refused(spare, tenant) >= 10, what="attempts against the closed port")
        receiver.up()
        emit_events(spare, tenant, 5, first=20)
        dispatcher.wake()
        wait_until(lambda: len(receiver.accepted) >= 25, timeout=60, what="every event after the outage")
        wait_until(lambda: _statuses(spare, tenant) == {"delivered"}, what="every delivery recorded")
    finally:
        dispatcher.stop()
        receiver.down()

    with spare() as session:
        ids = set(session.scalars(select(OutboxEvent.webhook_id).where(OutboxEvent.tenant == tenant)))
    assert set(receiver.accepted) == ids and len(ids) == 25
    assert set(receiver.accepted.values()) == {1}  # each webhook-id accepted exactly once
    assert receiver.answers["fail"] == 15 and receiver.answers["unverified"] == 0
    errors = _errors(spare, tenant)
    assert any("HTTP 500" in e for e in errors)
    assert any("no complete answer" in e for e in errors)  # the overall deadline cut it off
    assert any("ConnectError" in e for e in errors)


def _statuses(sessions: sessionmaker[Session], tenant: str) -> set[str]:
    with sessions() as session:
        return set(session.scalars(select(WebhookDelivery.status).where(WebhookDelivery.tenant == tenant)))


def _errors(sessions: sessionmaker[Session], tenant: str) -> list[str]:
    with sessions() as session:
        stmt = (
            select(DeliveryAttempt.error)
            .join(WebhookDelivery, WebhookDelivery.id == DeliveryAttempt.delivery_id)
            .where(WebhookDelivery.tenant == tenant, DeliveryAttempt.error.is_not(None))
        )
        return [e for e in session.scalars(stmt) if e]


def _refused(sessions: sessionmaker[Session], tenant: str) -> int:
    return sum("ConnectError" in e for e in _errors(sessions, tenant))


def test_the_default_retry_schedule_outlasts_a_one_hour_outage() -> None:
    """With the unluckiest jitter, the default attempts still span more than an hour, so a
    receiver down for an hour gets every event afterwards instead of a dead letter."""
    defaults = ApiSettings()

    class Unlucky(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return min(a, b)

    rng: Any = Unlucky()
    span = sum(
        backoff_delay(n, base_s=defaults.webhook_backoff_s, rng=rng)
        for n in range(1, defaults.webhook_max_attempts)
    )
    assert span > 3600.0
