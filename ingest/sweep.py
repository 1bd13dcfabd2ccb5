"""Liveness and retention, swept between chunks in a transaction of their own: no message waits
on them (ingest/README.md, liveness and retention)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from forestall.series import TelemetryStore
from forestall.settings import Settings
from forestall.state.models import Asset
from ingest.apply import Applier
from ingest.resume import EventClocks
from ingest.retention import run_retention

log = logging.getLogger(__name__)
SWEEP_EVERY_S = 2.0
RETENTION_EVERY_S = 600.0  # wall clock between retention passes


class Sweeper:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        store: TelemetryStore,
        applier: Applier,
        clocks: EventClocks,
        owns: Callable[[str, str], bool],
        backlog: Callable[[], int],
        name: str,
    ) -> None:
        self._settings = settings
        self._name = name
        self._sessions = sessions
        self._store = store
        self._applier = applier
        self._clocks = clocks
        self._owns = owns
        self._backlog = backlog
        # Every partition sees every tenant's clock; one of them is enough to purge.
        self._purges = settings.worker.partition == 0
        self.heard: dict[tuple[str, str], float] = {}  # wall clock of the last message per asset
        self._last_sweep = 0.0
        self._last_retention = float("-inf")  # the first sweep purges

    def sweep(self) -> None:
        """Liveness, and retention when it is due; a failure is logged and tried again next time."""
        if time.monotonic() - self._last_sweep < SWEEP_EVERY_S:
            return
        self._last_sweep = time.monotonic()
        try:
            with self._sessions.begin() as session:
                self._sweep_liveness(session)
                if self._purges and time.monotonic() - self._last_retention > RETENTION_EVERY_S:
                    self._last_retention = time.monotonic()
                    retention_s = self._settings.store.retention_days * 86400.0
                    removed = run_retention(session, self._store, self._clocks.now, time.time(), retention_s)
                    log.info("retention removed %d rows", removed)
            self._applier.write_points(time.time())  # the offline changes, once they are committed
        except Exception:
            self._applier.reset()  # what the rolled-back sweep changed is not to be charted
            log.exception(
                "worker %s: the liveness and retention sweep failed; next in %s s", self._name, SWEEP_EVERY_S
            )

    def _sweep_liveness(self, session: Session) -> None:
        """Set offline the owned assets not heard from for ``worker.offline_after_s`` (wall clock).

        Liveness is about the agent's connection, so it runs on the wall clock: the event
        clock stops when a whole fleet falls silent, which is exactly when this must fire.
        With a backlog the silence may be ours, so the sweep waits until the inbox drains;
        assets online at start get a full period of grace.
        """
        limit = self._settings.worker.offline_after_s
        if limit is None or self._backlog():
            return
        now = time.time()
        for asset in session.scalars(select(Asset).where(Asset.online.is_(True))):
            if not self._owns(asset.tenant, asset.id):
                continue
            heard = self.heard.setdefault((asset.tenant, asset.id), now)
            if now - heard > limit:
                since = asset.last_seen_at if asset.last_seen_at is not None else heard
                log.info("%s/%s silent for %.0f s: offline", asset.tenant, asset.id, now - heard)
                self._applier.mark_offline(session, asset, since)
