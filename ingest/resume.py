"""What a worker reads back from the state DB when it starts: the tenants' event clocks and the
assets' dedupe marks, so that a restart neither takes a future sample nor a duplicate batch."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from forestall.state.models import EventClock, IngestSequence
from ingest.sequence import SeqWindow


class EventClocks:
    """Each tenant's event clock as this worker last saw it committed."""

    def __init__(self, sessions: sessionmaker[Session], max_future_s: float) -> None:
        self._max_future_s = max_future_s
        with sessions() as session:
            self.now: dict[str, float] = {row.tenant: row.now for row in session.scalars(select(EventClock))}

    def horizon(self, tenant: str, running: float) -> float:
        """The newest sample time accepted from a tenant's devices (``worker.max_future_s``), given
        its clock as the messages handled so far move it (``running``)."""
        clock = max(self.now.get(tenant, float("-inf")), running)
        return max(clock, time.time()) + self._max_future_s

    def update(self, clocks: dict[str, float]) -> None:
        """The clocks a committed chunk moved."""
        self.now.update(clocks)


class DedupeMarks:
    """Each asset's dedupe window after a restart, from the marks read once (and again after
    ``forget``, when a rolled-back chunk may have left the windows ahead of the state DB)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._marks: dict[tuple[str, str], tuple[int, float | None]] | None = None

    def window(self, tenant: str, asset: str) -> SeqWindow:
        if self._marks is None:
            with self._sessions() as session:
                self._marks = {
                    (r.tenant, r.asset_id): (r.high_water, r.max_ts)
                    for r in session.scalars(select(IngestSequence))
                }
        mark = self._marks.pop((tenant, asset), None)
        return SeqWindow.resume(*mark) if mark else SeqWindow()

    def forget(self) -> None:
        self._marks = None
