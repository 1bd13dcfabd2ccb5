"""What one running app holds: settings, the state DB, metrics, the API keys' rate limits, the
telemetry store, delivery, the MQTT command publisher.

Built in the app's lifespan and reached by dependencies through ``request.app.state``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.commands import CommandPublisher
from api.limits import KeyLimiter
from api.metrics import ApiMetrics
from api.webhooks.egress import EgressPolicy
from forestall.settings import Settings
from ingest.store import open_store

if TYPE_CHECKING:
    from api.webhooks.dispatcher import WebhookDispatcher
    from forestall.series import TelemetryStore


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    metrics: ApiMetrics
    limiter: KeyLimiter
    egress: EgressPolicy  # where webhooks may go: checked at subscription and at delivery
    dispatcher: WebhookDispatcher | None = None
    _store: TelemetryStore | None = field(default=None, repr=False)
    _store_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _commands: CommandPublisher | None = field(default=None, repr=False)

    def telemetry_store(self) -> TelemetryStore:
        """The telemetry store, opened on first use (many API calls never need it)."""
        with self._store_lock:
            if self._store is None:
                self._store = open_store(self.settings)
            return self._store

    def command_publisher(self) -> CommandPublisher:
        """The MQTT publisher for device commands, made on first use (connects lazily)."""
        with self._store_lock:
            if self._commands is None:
                self._commands = CommandPublisher(self.settings.mqtt)
            return self._commands

    def close(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self._commands is not None:
            self._commands.close()
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None
        self.engine.dispose()
