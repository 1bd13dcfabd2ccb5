"""The on-disk journal of line-protocol batches: every write lands here before it is acknowledged.

One SQLite file (WAL). ``pending`` keeps batches in arrival order until the server takes
them; ``rejected`` keeps the batches the server refused as malformed, with its answer. A batch
names its bucket ('' for the configured one; a tenant's own with ``tenant_buckets``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from forestall.series import StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, lines INTEGER NOT NULL, added REAL NOT NULL,
    bucket TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL, lines INTEGER NOT NULL,
    error TEXT NOT NULL, rejected_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    body: str
    lines: int
    added: float  # wall clock (monotonic is not kept across restarts)
    bucket: str = ""  # '' = the configured bucket


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(pending)")}
            if "bucket" not in columns:  # a spool written before buckets per tenant
                self._db.execute("ALTER TABLE pending ADD COLUMN bucket TEXT NOT NULL DEFAULT ''")
            self._db.execute("CREATE INDEX IF NOT EXISTS pending_by_bucket ON pending (bucket, id)")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the influxdb spool {path}: {exc}", retryable=False) from exc
        self.pending_lines = self._scalar("SELECT coalesce(sum(lines), 0) FROM pending")

    def append(self, lines: list[str], bucket: str = "") -> None:
        body = "\n".join(lines)
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO pending (body, lines, added, bucket) VALUES (?, ?, ?, ?)",
                    (body, len(lines), time.time(), bucket),
                )
            except sqlite3.Error as exc:
                raise StoreError(f"influxdb spool write failed: {exc}", retryable=True) from exc
            self.pending_lines += len(lines)

    def head(self, max_lines: int, skip: Sequence[str] = ()) -> list[Batch]:
        """The oldest batches of the bucket of the oldest batch, at least one, together at most
        ``max_lines`` lines when possible (one write; batches of a bucket per tenant interleave, so
        a write takes that bucket's from further back too); the buckets in ``skip`` wait."""
        where = f"WHERE bucket NOT IN ({', '.join('?' * len(skip))})" if skip else ""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, body, lines, added, bucket FROM pending WHERE bucket = "
                f"(SELECT bucket FROM pending {where} ORDER BY id LIMIT 1) ORDER BY id LIMIT 1000",
                tuple(skip),
            ).fetchall()
        batches: list[Batch] = []
        total = 0
        for row in rows:
            if batches and total + row[2] > max_lines:
                break
            batches.append(Batch(*row))
            total += row[2]
        return batches

    def done(self, batches: list[Batch]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM pending WHERE id = ?", [(b.id,) for b in batches])
            self.pending_lines -= sum(b.lines for b in batches)

    def reject(self, batch: Batch, error: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO rejected (body, lines, error, rejected_at) VALUES (?, ?, ?, ?)",
                (batch.body, batch.lines, error[:2000], time.time()),
            )
            self._db.execute("DELETE FROM pending WHERE id = ?", (batch.id,))
            self._db.execute("COMMIT")
            self.pending_lines -= batch.lines

    def rejected(self) -> list[tuple[str, str]]:
        """(body, error) of every batch the server refused, oldest first."""
        with self._lock:
            return [(b, e) for b, e in self._db.execute("SELECT body, error FROM rejected ORDER BY id")]

    def _scalar(self, sql: str) -> int:
        with self._lock:
            return int(self._db.execute(sql).fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
