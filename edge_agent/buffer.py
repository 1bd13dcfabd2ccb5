"""Store-and-forward on disk: every sample is written here before it is published and
removed only after the broker's PUBACK.

One SQLite file in WAL mode. Samples land in ``samples`` together with the driver state
that produced them (one transaction, so a crash neither loses nor re-reads a sample).
``form_batches`` turns them into telemetry payloads exactly once, numbered with ``seq``
(monotonic across restarts, kept in ``meta``) and committed with ``synchronous=FULL``
before anything is sent, so a replay re-sends the same bytes under the same ``seq``.
Bounded by ``max_samples`` and ``max_age_s``: the oldest data goes first, whole batches
before loose samples, and every dropped sample is counted.

All methods are thread-safe: paho's network thread calls ``ack`` from ``on_publish``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forestall.contract import MAX_PAYLOAD_BYTES, MAX_SAMPLES, Sample, format_ts, telemetry_payload

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS driver_state (name TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, vals TEXT NOT NULL, buffered_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY, payload BLOB NOT NULL, n INTEGER NOT NULL, buffered_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS samples_buffered_at ON samples (buffered_at);
CREATE INDEX IF NOT EXISTS batches_buffered_at ON batches (buffered_at);
"""
COUNTERS = ("next_seq", "dropped", "samples_buffered", "samples_acked", "batches_acked")
_SAMPLE_FRAME = len('{"ts":"","values":}')  # a sample's bytes in a payload besides ts and values


def _values_json(values: Mapping[str, float]) -> str:
    # The same encoding telemetry_payload uses, so stored sizes are payload sizes.
    return json.dumps(values, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True, slots=True)
class BufferLimits:
    max_samples: int = 1_000_000
    max_age_s: float = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class BufferStats:
    pending_samples: int  # not yet acknowledged: in batches or waiting for one
    pending_batches: int
    samples_buffered: int  # totals over the buffer file's life
    samples_acked: int
    batches_acked: int
    dropped: int
    next_seq: int


class Buffer:
    """The on-disk buffer of one asset; ``sync="full"`` fsyncs every formed batch."""

    def __init__(
        self, path: str | Path, asset: str, *, limits: BufferLimits | None = None, sync: str = "full"
    ) -> None:
        self.asset = asset
        self.limits = limits or BufferLimits()
        self._batch_sync = "FULL" if sync == "full" else "NORMAL"
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._sync = ""
        self._counters: dict[str, int] = {}
        self._unbatched = 0
        self._batched = 0
        self._load()

    # ---- reading -------------------------------------------------------------------------

    def driver_states(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            rows = self._conn().execute("SELECT name, state FROM driver_state").fetchall()
        return {name: json.loads(state) for name, state in rows}

    def pending(self, limit: int, exclude: Set[int] = frozenset()) -> list[tuple[int, bytes]]:
        """The oldest ``limit`` unacknowledged batches not in ``exclude``, as ``(seq, payload)``."""
        with self._lock:
            if self._db is None:
                return []
            # Seqs first: the payloads of batches in flight (``exclude``) need not be read again.
            seqs = self._db.execute("SELECT seq FROM batches ORDER BY seq LIMIT ?", (limit + len(exclude),))
            chosen = [seq for (seq,) in seqs if seq not in exclude][:limit]
            rows = (
                self._db.execute("SELECT payload FROM batches WHERE seq = ?", (seq,)).fetchone()
                for seq in chosen
            )
            return [(seq, bytes(row[0])) for seq, row in zip(chosen, rows, strict=True) if row is not None]

    def stats(self) -> BufferStats:
        with self._lock:
            return self._stats()

    # ---- writing -------------------------------------------------------------------------

    def append(
        self,
        samples: Sequence[Sample],
        driver_states: Mapping[str, dict[str, Any]] | None = None,
        *,
        now: float,
    ) -> None:
        """Store samples and the driver positions that produced them in one transaction."""
        with self._lock, self._transaction("NORMAL") as db:
            rows = [(s.ts, _values_json(s.values), now) for s in samples if s.values]
            db.executemany("INSERT INTO samples (ts, vals, buffered_at) VALUES (?, ?, ?)", rows)
            db.executemany(
                "INSERT OR REPLACE INTO driver_state (name, state) VALUES (?, ?)",
                [(name, json.dumps(state)) for name, state in (driver_states or {}).items()],
            )
            self._unbatched += len(rows)
            self._bump(db, "samples_buffered", len(rows))
            self._enforce_limits(db, now)

    def form_batches(
        self, now: float, *, max_samples: int = 500, max_age_s: float = 1.0, force: bool = False
    ) -> int:
        """Cut waiting samples into batches once ``max_samples`` wait or the oldest has waited
        ``max_age_s`` (``force``: cut them all now). Returns the number of batches formed."""
        max_samples = max(1, min(max_samples, MAX_SAMPLES))
        with self._lock:
            if not self._batch_due(now, max_samples, max_age_s, force):
                return 0
            formed = 0
            with self._transaction(self._batch_sync) as db:
                while self._batch_due(now, max_samples, max_age_s, force):
                    formed += self._form_one(db, max_samples)
            return formed

    def ack(self, seq: int) -> bool:
        """The broker has the batch: forget it. False if it was unknown (already acked/dropped)."""
        with self._lock:
            if self._db is None:
                return False
            with self._transaction("NORMAL") as db:
                # No DELETE … RETURNING: devices may ship SQLite older than 3.35.
                row = db.execute("SELECT n FROM batches WHERE seq = ?", (seq,)).fetchone()
                if row is None:
                    return False
                db.execute("DELETE FROM batches WHERE seq = ?", (seq,))
                self._batched -= row[0]
                self._bump(db, "samples_acked", row[0])
                self._bump(db, "batches_acked", 1)
                return True

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # ---- internals -----------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the buffer is closed")
        return self._db

    @contextmanager
    def _transaction(self, sync: str) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        if sync != self._sync:
            db.execute(f"PRAGMA synchronous={sync}")
            self._sync = sync
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            self._load()  # the in-memory counters may have moved with the rolled-back work
            raise
        db.execute("COMMIT")

    def _load(self) -> None:
        db = self._conn()
        counters = dict(db.execute("SELECT key, value FROM meta").fetchall())
        self._counters = {name: int(counters.get(name, 1 if name == "next_seq" else 0)) for name in COUNTERS}
        self._unbatched = db.execute("SELECT count(*) FROM samples").fetchone()[0]
        self._batched = db.execute("SELECT coalesce(sum(n), 0) FROM batches").fetchone()[0]

    def _bump(self, db: sqlite3.Connection, name: str, by: int) -> None:
        if by:
            self._counters[name] += by
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (name, self._counters[name]))

    def _stats(self) -> BufferStats:
        pending_batches = 0
        if self._db is not None:
            pending_batches = self._db.execute("SELECT count(*) FROM batches").fetchone()[0]
        c = self._counters
        return BufferStats(
            pending_samples=self._unbatched + self._batched,
            pending_batches=pending_batches,
            samples_buffered=c["samples_buffered"],
            samples_acked=c["samples_acked"],
            batches_acked=c["batches_acked"],
            dropped=c["dropped"],
            next_seq=c["next_seq"],
        )

    def _batch_due(self, now: float, max_samples: int, max_age_s: float, force: bool) -> bool:
        if self._unbatched == 0:
            return False
        if force or self._unbatched >= max_samples:
            return True
        oldest = self._conn().execute("SELECT buffered_at FROM samples ORDER BY id LIMIT 1").fetchone()
        return oldest is not None and bool(oldest[0] <= now - max_age_s)

    def _form_one(self, db: sqlite3.Connection, max_samples: int) -> int:
        rows = db.execute(
            "SELECT id, ts, vals, buffered_at FROM samples ORDER BY id LIMIT ?", (max_samples,)
        ).fetchall()
        seq = self._counters["next_seq"]
        take = _fitting(self.asset, seq, [(ts, vals) for _, ts, vals, _ in rows])
        if take == 0:  # one sample alone exceeds the payload limit: it can never be sent
            log.error(
                "dropping a sample of %d bytes: over the %d byte payload limit",
                len(rows[0][2]),
                MAX_PAYLOAD_BYTES,
            )
            db.execute("DELETE FROM samples WHERE id = ?", (rows[0][0],))
            self._unbatched -= 1
            self._bump(db, "dropped", 1)
            return 0
        samples = [Sample(ts, json.loads(vals)) for _, ts, vals, _ in rows[:take]]
        payload = telemetry_payload(self.asset, seq, samples)
        while len(payload) > MAX_PAYLOAD_BYTES:  # the size estimate is exact; this is a safety net
            take -= 1
            payload = telemetry_payload(self.asset, seq, samples[:take])
        db.execute(
            "INSERT INTO batches (seq, payload, n, buffered_at) VALUES (?, ?, ?, ?)",
            (seq, payload, take, rows[0][3]),
        )
        db.execute("DELETE FROM samples WHERE id <= ?", (rows[take - 1][0],))
        self._unbatched -= take
        self._batched += take
        self._bump(db, "next_seq", 1)
        return 1

    def _enforce_limits(self, db: sqlite3.Connection, now: float) -> None:
        cutoff = now - self.limits.max_age_s
        dropped_batched = self._drop_batches(db, "buffered_at < ?", (cutoff,))
        dropped_loose = db.execute("DELETE FROM samples WHERE buffered_at < ?", (cutoff,)).rowcount
        self._batched -= dropped_batched
        self._unbatched -= dropped_loose
        excess = self._unbatched + self._batched - self.limits.max_samples
        while excess > 0 and self._batched > 0:
            oldest = db.execute("SELECT min(seq) FROM batches").fetchone()[0]
            n = self._drop_batches(db, "seq = ?", (oldest,))
            self._batched -= n
            dropped_batched, excess = dropped_batched + n, excess - n
        if excess > 0:
            loose = db.execute(
                "DELETE FROM samples WHERE id IN (SELECT id FROM samples ORDER BY id LIMIT ?)", (excess,)
            ).rowcount
            self._unbatched -= loose
            dropped_loose += loose
        if dropped_batched or dropped_loose:
            log.warning(
                "buffer full or too old: dropped the oldest %d samples", dropped_batched + dropped_loose
            )
            self._bump(db, "dropped", dropped_batched + dropped_loose)

    @staticmethod
    def _drop_batches(db: sqlite3.Connection, where: str, args: tuple[float, ...]) -> int:
        count = db.execute(f"SELECT coalesce(sum(n), 0) FROM batches WHERE {where}", args).fetchone()[0]
        if count:
            db.execute(f"DELETE FROM batches WHERE {where}", args)
        return int(count)


def _fitting(asset: str, seq: int, rows: Sequence[tuple[float, str]]) -> int:
    """How many of ``rows`` (ts, values JSON) fit in one payload under MAX_PAYLOAD_BYTES."""
    size = len(telemetry_payload(asset, seq, []))
    for count, (ts, vals) in enumerate(rows):
        size += _SAMPLE_FRAME + len(format_ts(ts)) + len(vals.encode()) + (1 if count else 0)
        if size > MAX_PAYLOAD_BYTES:
            return count
    return len(rows)
