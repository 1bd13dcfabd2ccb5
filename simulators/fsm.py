"""The simulated FSM (field service management) system that closes the loop.

A real HTTP server receives Forestall's webhooks and verifies every one with
``standardwebhooks`` (a bad signature or stale stamp -> 400, counted); a ``webhook-id``
seen before is acknowledged and not processed again. Verified events and sim-channel
messages (technician reports, machine failures) go through one queue to one worker
thread, which calls the API (``simulators.dispatch``) and sends technicians by publishing
``visit`` requests on the sim channel.

With a ``crew`` (``simulators.crew``) the technicians are few: requests wait in its queue and
the worker thread assigns them every ``tick_s`` wall seconds, up to the event time of ``clock``
(without a clock, the latest event time the FSM heard of).

    fsm = FsmSimulator(api_url, api_key, mqtt_url, "demo", "whsec_...", crew=crew, clock=clock)
    fsm.start()                      # then subscribe fsm.url to the webhooks
    ...
    fsm.stop()
"""

from __future__ import annotations

import functools
import logging
import queue
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from standardwebhooks.webhooks import Webhook

from forestall.clock import Clock
from simulators.apiclient import ApiClient, with_retries
from simulators.crew import Crew, covered_sites
from simulators.dispatch import Dispatcher, FsmStats
from simulators.simchannel import SimChannel

log = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = 1024 * 1024
SEEN_IDS_KEPT: Final = 100_000


class FsmSimulator:
    def __init__(
        self,
        api_url: str,
        api_key: str,
        mqtt_url: str,
        tenant: str,
        webhook_secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        travel_hours: tuple[float, float] = (1.0, 2.0),
        corrective_delay_hours: tuple[float, float] = (2.0, 4.0),
        seed: int = 0,
        crew: Crew | None = None,
        clock: Clock | None = None,
        tick_s: float = 0.05,
    ) -> None:
        self.tenant = tenant
        self.crew = crew
        self._clock = clock
        self._tick_s = tick_s
        self.host = host
        self._port = port
        self._verifier = Webhook(webhook_secret)  # raises on an empty/invalid secret: fail early
        self.stats = FsmStats()
        self._api = ApiClient(api_url, api_key)
        self._jobs: queue.Queue[tuple[str, str, dict[str, Any]] | None] = queue.Queue()
        self._channel = SimChannel(
            mqtt_url,
            tenant,
            client_id=f"forestall-sim-fsm-{tenant}",
            listen=("report", "failure"),
            handler=lambda asset, kind, payload: self._jobs.put((kind, asset, payload)),
        )
        self.dispatcher = Dispatcher(
            self._api,
            self._channel.publish,
            self.stats,
            travel_hours=travel_hours,
            corrective_delay_hours=corrective_delay_hours,
            seed=seed,
            crew=crew,
        )
        self._seen: dict[str, None] = {}  # webhook ids, oldest first
        self._seen_lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self._port

    @property
    def url(self) -> str:
        """Where Forestall should deliver webhooks (use it for the subscription)."""
        return f"http://{self.host}:{self.port}/webhooks"

    def start(self) -> None:
        self._channel.start()
        self._server = ThreadingHTTPServer((self.host, self._port), self._handler_class())
        self._server.daemon_threads = True
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="fsm-http", daemon=True),
            threading.Thread(target=self._work, name="fsm-worker", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._jobs.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._channel.stop()
        self._api.close()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every queued event has been handled (for tests and orderly shutdown)."""
        done = threading.Event()
        self._jobs.put(("_marker", "", {"event": done}))
        return done.wait(timeout)

    # -- webhook intake (HTTP threads) --------------------------------------------------------

    def receive(self, body: bytes, headers: dict[str, str]) -> int:
        """Verify, dedupe and queue one delivery; the HTTP status to answer with."""
        try:
            payload = self._verifier.verify(body, headers)
            if not isinstance(payload, dict):
                raise ValueError("the body is not a JSON object")
        except Exception as exc:  # any verification failure (signature, stamp, headers, JSON)
            log.warning("FSM: rejected a webhook: %s", exc)
            self._count(rejected=True)
            return 400
        webhook_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
        with self._seen_lock:
            self.stats.webhooks_received += 1
            if webhook_id in self._seen:
                self.stats.webhooks_duplicate += 1
                return 204
            self._seen[webhook_id] = None
            if len(self._seen) > SEEN_IDS_KEPT:
                del self._seen[next(iter(self._seen))]
            self.stats.webhooks_verified += 1
        self._jobs.put(("webhook", "", payload))
        return 204

    def _count(self, *, rejected: bool) -> None:
        with self._seen_lock:
            self.stats.webhooks_received += 1
            self.stats.webhooks_rejected += rejected

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fsm = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY_BYTES:
                    self.send_response(413)
                    self.end_headers()
                    return
                status = fsm.receive(self.rfile.read(length), dict(self.headers.items()))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("FSM http: " + format, *args)

        return Handler

    # -- the worker ---------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self._tick_s if self.crew is not None else None)
            except queue.Empty:
                job = ("_tick", "", {})
            if job is None:
                return
            kind, asset, payload = job
            try:
                self._handle(kind, asset, payload)
                if self.crew is not None and kind != "_marker":
                    self.dispatcher.tick(self._clock.now() if self._clock is not None else None)
            except Exception:  # one bad event must not stop the FSM
                log.exception("FSM: handling %s for %r failed", kind, asset or payload.get("type"))

    def _handle(self, kind: str, asset: str, payload: dict[str, Any]) -> None:
        if kind == "webhook":
            self.dispatcher.on_webhook(payload)
        elif kind == "report":
            self.dispatcher.on_report(asset, payload)
        elif kind == "failure":
            self.dispatcher.on_failure(asset, payload)
        elif kind == "_marker":
            if self.crew is not None:
                self.dispatcher.tick(self._clock.now() if self._clock is not None else None)
            payload["event"].set()


def register_technicians(api: ApiClient, crew: Crew, sites: Iterable[str]) -> None:
    """Create (or replace) every technician of ``crew`` through ``PUT /v1/technicians/{id}``:
    their skills, the ``sites`` of their regions, their weekly hours."""
    sites = sorted(set(sites))
    for t in crew.technicians:
        regions = covered_sites(t, sites, crew.travel)
        call = functools.partial(api.upsert_technician, t.id, t.name, t.skills, regions, t.hours)
        with_retries(call, attempts=8)
