"""Per-asset dedupe of telemetry batches by ``seq`` (docs/ARCHITECTURE.md, MQTT topics and
payloads). Pure logic.

Seen sequence numbers are kept as sorted, disjoint intervals within the dedupe window
below the high-water mark, so an in-order stream costs one interval per asset however
long it runs.

>>> w = SeqWindow()
>>> [w.check(s, batch_min_ts=float(s)) for s in (1, 2, 2, 5, 3)]
['new', 'new', 'duplicate', 'new', 'new']
>>> w.check(3, batch_min_ts=3.0)
'duplicate'
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Literal

DEDUPE_WINDOW = 100_000  # batches; the contract asks for at least this many

Verdict = Literal["new", "duplicate", "seq_reset"]


@dataclass(slots=True)
class SeqWindow:
    window: int = DEDUPE_WINDOW
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # inclusive
    max_ts: float = float("-inf")  # newest sample time seen on this asset

    @classmethod
    def resume(cls, high_water: int, max_ts: float | None, window: int = DEDUPE_WINDOW) -> SeqWindow:
        """After a restart: everything up to the stored high-water mark counts as seen."""
        return cls(
            window=window,
            starts=[max(high_water - window + 1, 0)],
            ends=[high_water],
            max_ts=max_ts if max_ts is not None else float("inf"),
        )

    @property
    def high_water(self) -> int | None:
        return self.ends[-1] if self.ends else None

    def seen(self, seq: int) -> bool:
        i = bisect.bisect_right(self.starts, seq) - 1
        return i >= 0 and self.ends[i] >= seq

    def check(self, seq: int, batch_min_ts: float | None = None) -> Verdict:
        """Classify ``seq`` and record it unless it is a duplicate."""
        hw = self.high_water
        if hw is not None and seq < hw - self.window:
            self._reset(seq)
            return "seq_reset"
        if self.seen(seq):
            # A re-flashed device that restarted low re-uses old numbers with new samples.
            if batch_min_ts is not None and batch_min_ts > self.max_ts:
                self._reset(seq, batch_min_ts)
                return "seq_reset"
            return "duplicate"
        self._add(seq)
        if batch_min_ts is not None:
            self.max_ts = max(self.max_ts, batch_min_ts)
        return "new"

    def observe_ts(self, ts: float) -> None:
        self.max_ts = max(self.max_ts, ts)

    def _reset(self, seq: int, ts: float | None = None) -> None:
        self.starts, self.ends = [seq], [seq]
        if ts is not None:
            self.max_ts = ts

    def _add(self, seq: int) -> None:
        i = bisect.bisect_right(self.starts, seq)
        joins_left = i > 0 and self.ends[i - 1] + 1 == seq
        joins_right = i < len(self.starts) and self.starts[i] - 1 == seq
        if joins_left and joins_right:
            self.ends[i - 1] = self.ends[i]
            del self.starts[i], self.ends[i]
        elif joins_left:
            self.ends[i - 1] = seq
        elif joins_right:
            self.starts[i] = seq
        else:
            self.starts.insert(i, seq)
            self.ends.insert(i, seq)
        self._trim()

    def _trim(self) -> None:
        floor = self.ends[-1] - self.window
        while self.starts and self.ends[0] < floor:
            del self.starts[0], self.ends[0]
        if self.starts and self.starts[0] < floor:
            self.starts[0] = floor
