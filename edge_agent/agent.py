"""The edge agent: drivers -> disk buffer -> MQTT, driven by ``step()``.

``step()`` is cheap and never blocks on the network, so one thread can drive many agents
(the demo steps 50 of them with a ``SimClock``); ``run()`` is the loop the CLI uses. Event
time comes from the clock: sample pacing, batch age, buffer age and heartbeats all use it.

Building an agent without a TOML file, with a simulated driver bound to a machine model::

    config = AgentConfig(
        mqtt=MqttSettings(url="mqtt://127.0.0.1:1883"),
        agent=AgentSettings(tenant="acme", asset="pump-0042", buffer_path="/data/pump-0042.db"),
    )
    driver = SimulatedDriver("sim", machine, interval_s=config.agent.sample_interval_s)
    agent = EdgeAgent(config, drivers=[driver], clock=SimClock(start=t0, speed=3600))
    agent.start()
    agent.step()  # again and again, from any one thread
    agent.stop()
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass

from edge_agent.buffer import Buffer, BufferLimits, BufferStats
from edge_agent.commands import handle_command
from edge_agent.config import AgentConfig
from edge_agent.drivers.base import ConfigError, Driver
from edge_agent.polling import DriverSet, build_drivers
from edge_agent.publisher import Publisher
from forestall import __version__
from forestall.clock import Clock, WallClock
from forestall.contract import Status, ack_payload, status_payload

log = logging.getLogger(__name__)

BUSY_SAMPLES = 500  # a step that polled this many samples: more are probably waiting
PROGRESS_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class AgentStats:
    samples_buffered: int
    samples_acked: int
    batches_acked: int
    pending_samples: int
    pending_batches: int
    dropped: int
    connected: bool


class EdgeAgent:
    """One asset's agent. ``start()``, then ``step()`` from one thread (or ``run()``), then ``stop()``."""

    def __init__(
        self, config: AgentConfig, *, drivers: list[Driver] | None = None, clock: Clock | None = None
    ) -> None:
        self.config = config
        self._clock: Clock = clock or WallClock()
        built = build_drivers(config) if drivers is None else drivers
        self._drivers = DriverSet(
            built,
            enabled={s.label: s.enabled for s in config.sensors},
            features={s.label: s.features for s in config.sensors if s.features},
        )
        self._commands: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._buffer: Buffer | None = None
        self._publisher: Publisher | None = None
        self._announced = 0  # the publisher's connect count we last sent an online status for
        self._next_heartbeat = float("-inf")
        self._busy = False
        self._last_stats = BufferStats(0, 0, 0, 0, 0, 0, 1)

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Open the buffer, restore driver positions, connect in the background (never blocks
        on the broker: a broker that is down is retried while samples are buffered)."""
        settings = self.config.agent
        limits = BufferLimits(max_samples=settings.buffer_max_samples, max_age_s=settings.buffer_max_age_s)
        buffer = self._open_buffer(limits)
        self._drivers.restore(buffer.driver_states())
        publisher = Publisher(
            self.config, will=self._status("offline"), on_acked=self._acked, on_command=self._command_received
        )
        try:
            publisher.start()
        except Exception:
            buffer.close()
            raise
        self._buffer, self._publisher = buffer, publisher
        log.info(
            "agent %s/%s started: %d samples waiting in %s",
            settings.tenant,
            settings.asset,
            buffer.stats().pending_samples,
            self.config.buffer_file,
        )

    def step(self, now: float | None = None) -> None:
        """Poll due drivers, buffer, form batches, publish what may be published. Non-blocking."""
        buffer, publisher = self._started()
        now = self._clock.now() if now is None else now
        self._run_commands(publisher)
        polled = self._drivers.poll(now)
        if polled.samples or polled.states:
            try:
                buffer.append(polled.samples, polled.states, now=now)
            except Exception:
                self._drivers.rollback()
                raise
            self._drivers.commit(polled)
        settings = self.config.agent
        buffer.form_batches(now, max_samples=settings.batch_max_samples, max_age_s=settings.batch_max_age_s)
        self._announce(publisher, buffer, now)
        self._pump(publisher, buffer)
        self._busy = len(polled.samples) >= BUSY_SAMPLES

    def run(self, stop_event: threading.Event) -> None:
        """Step until ``stop_event`` is set; wakes early on acks and commands."""
        settings = self.config.agent
        idle_s = min(0.2, max(0.01, min(settings.sample_interval_s, settings.batch_max_age_s or 1.0) / 4))
        next_progress = time.monotonic() + PROGRESS_EVERY_S
        while not stop_event.is_set():
            try:
                self.step()
            except Exception:  # e.g. a full disk: keep the agent alive and try again
                log.exception("step failed; retrying in 1 s")
                stop_event.wait(1.0)
            if time.monotonic() >= next_progress:
                next_progress = time.monotonic() + PROGRESS_EVERY_S
                log.info("progress: %s", self.stats)
            if not self._busy:
                self._wake.wait(idle_s)
            self._wake.clear()

    def stop(self, timeout: float = 5.0) -> None:
        """Batch what is waiting, publish what the broker takes within ``timeout``, say offline."""
        buffer, publisher = self._buffer, self._publisher
        if buffer is None or publisher is None:
            self._drivers.close()
            return
        deadline = time.monotonic() + timeout
        try:
            buffer.form_batches(
                self._clock.now(), max_samples=self.config.agent.batch_max_samples, force=True
            )
            while publisher.connected and buffer.stats().pending_batches and time.monotonic() < deadline:
                self._pump(publisher, buffer)
                self._wake.wait(0.05)
                self._wake.clear()
        finally:
            publisher.stop(self._status("offline"), timeout=max(0.5, deadline - time.monotonic()))
            self._last_stats = buffer.stats()
            buffer.close()
            self._drivers.close()
            self._buffer, self._publisher = None, None
        log.info("agent stopped: %s", self.stats)

    # ---- observing -----------------------------------------------------------------------

    @property
    def stats(self) -> AgentStats:
        buffer, publisher = self._buffer, self._publisher
        s = buffer.stats() if buffer is not None else self._last_stats
        return AgentStats(
            samples_buffered=s.samples_buffered,
            samples_acked=s.samples_acked,
            batches_acked=s.batches_acked,
            pending_samples=s.pending_samples,
            pending_batches=s.pending_batches,
            dropped=s.dropped,
            connected=publisher is not None and publisher.connected,
        )

    def driver_status(self) -> dict[str, str]:
        """Per driver: ``"ok"``, ``"disabled"`` or ``"error: …"`` (as in the status payload)."""
        return self._drivers.statuses()

    # ---- internals -----------------------------------------------------------------------

    def _started(self) -> tuple[Buffer, Publisher]:
        if self._buffer is None or self._publisher is None:
            raise RuntimeError("call start() before step()")
        return self._buffer, self._publisher

    def _open_buffer(self, limits: BufferLimits) -> Buffer:
        path, settings = self.config.buffer_file, self.config.agent
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            return Buffer(path, settings.asset, limits=limits, sync=settings.buffer_sync)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"agent.buffer_path: cannot open {path}: {exc}") from exc

    def _status(self, state: str, now: float | None = None, stats: BufferStats | None = None) -> bytes:
        return status_payload(
            Status(
                state=state,
                ts=now,
                agent=__version__,
                buffer_pending=stats.pending_samples if stats else 0,
                buffer_dropped=stats.dropped if stats else 0,
                drivers=self._drivers.statuses(),
            )
        )

    def _announce(self, publisher: Publisher, buffer: Buffer, now: float) -> None:
        """Retained online status after every (re)connect and then every ``heartbeat_s``."""
        if not publisher.connected:
            return
        connects = publisher.connects
        if connects == self._announced and now < self._next_heartbeat:
            return
        self._announced, self._next_heartbeat = connects, now + self.config.agent.heartbeat_s
        publisher.publish_status(self._status("online", now, buffer.stats()))

    def _pump(self, publisher: Publisher, buffer: Buffer) -> None:
        """Hand the oldest unsent batches to paho, in seq order, up to the in-flight limit.

        Batches already in flight are re-sent by paho itself after a reconnect (persistent
        session); after a restart nothing is in flight, so everything pending goes again.
        """
        slots = publisher.free_slots()
        if slots <= 0 or not publisher.connected:
            return
        for seq, payload in buffer.pending(slots, exclude=publisher.busy()):
            if not publisher.publish_batch(seq, payload):
                break

    def _run_commands(self, publisher: Publisher) -> None:
        while True:
            try:
                payload = self._commands.get_nowait()
            except queue.Empty:
                return
            ack = handle_command(payload, self._drivers)
            if ack is not None:
                publisher.publish_ack(ack_payload(ack))
            self._next_heartbeat = float("-inf")  # show the effect in the status right away

    def _acked(self, seq: int) -> None:  # paho's network thread
        if self._buffer is not None:
            self._buffer.ack(seq)
        self._wake.set()

    def _command_received(self, payload: bytes) -> None:  # paho's network thread
        self._commands.put(payload)
        self._wake.set()
