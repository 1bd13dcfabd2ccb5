"""Evidence rows awaiting their label from the field.

An asset keeps one row an hour of the evidence its probability rested on; when a failure or a
technician's finding arrives, the rows get their labels (failed within the horizon or not) and
teach the calibrator. Packed as floats so a checkpoint of many assets stays small.

>>> rows = Pending()
>>> rows.append(0.0, {"anomaly": -2.0})
>>> rows.append(3600.0, {"anomaly": 1.0, "crossing": 0.5})
>>> [ts for ts, _ in rows.take(before=3600.0)], len(rows)
([0.0, 3600.0], 0)
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Mapping

from predictor.calibration import EVIDENCE


class Pending:
    """Hourly evidence rows awaiting a label: ts, then ``EVIDENCE`` (NaN: absent)."""

    WIDTH = 1 + len(EVIDENCE)

    def __init__(self) -> None:
        self.rows = array("d")

    def __len__(self) -> int:
        return len(self.rows) // self.WIDTH

    def last_ts(self) -> float | None:
        return self.rows[-self.WIDTH] if self.rows else None

    def append(self, ts: float, x: Mapping[str, float]) -> None:
        self.rows.append(ts)
        self.rows.extend(x.get(name, math.nan) for name in EVIDENCE)

    def __iter__(self) -> Iterator[tuple[float, dict[str, float]]]:
        rows, width = self.rows, self.WIDTH
        for i in range(0, len(rows), width):
            values = rows[i + 1 : i + width]
            yield rows[i], {n: v for n, v in zip(EVIDENCE, values, strict=True) if not math.isnan(v)}

    def take(self, before: float) -> list[tuple[float, dict[str, float]]]:
        """Remove and return the rows stamped at or before ``before`` (oldest first)."""
        width = self.WIDTH
        count = 0
        while count * width < len(self.rows) and self.rows[count * width] <= before:
            count += 1
        taken = list(self._first(count))
        del self.rows[: count * width]
        return taken

    def _first(self, count: int) -> Iterator[tuple[float, dict[str, float]]]:
        for i, row in enumerate(self):
            if i >= count:
                return
            yield row

    def clear(self) -> None:
        self.rows = array("d")
