"""The replay driver: re-emits a CSV file's rows, paced by their timestamps."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from edge_agent.drivers.base import ConfigError, DriverContext, DriverError, Options
from edge_agent.drivers.replay.rows import Layout, Row, parse_cell_ts, parse_header, parse_row
from forestall.contract import Sample

log = logging.getLogger(__name__)

MAX_ROWS_PER_POLL = 1000
LOGGED_PROBLEMS = 20  # then only counted, so a broken column cannot flood the log


class ReplayDriver:
    """Emit the rows of ``path`` as samples, keeping their timestamps.

    ``speed`` 1.0 paces rows by their ``ts`` differences in event time, 2.0 twice as
    fast, 0 as fast as possible. ``loop`` starts over at the end, shifting every pass by
    the file's span so time keeps moving forward. The position (rows consumed, pass) is
    the driver's state, saved with the samples it produced.
    """

    def __init__(self, name: str, path: Path, *, speed: float = 1.0, loop: bool = False) -> None:
        if speed < 0:
            raise ConfigError("speed: must be >= 0")
        self.name = name
        self.path = path
        self.speed = speed
        self.loop = loop
        self._layout = _read_layout(path)
        self._file: TextIO | None = None
        self._reader: Iterator[list[str]] | None = None
        self._row = 0  # data rows consumed in the current pass (emitted or skipped)
        self._pass = 0
        self._period: float | None = None
        self._lookahead: Sample | None = None
        self._anchor: tuple[float, float] | None = None  # (event time, row ts) pacing starts from
        self.finished = False
        self.bad_values = 0
        self.bad_rows = 0

    def poll(self, now: float) -> list[Sample]:
        out: list[Sample] = []
        while len(out) < MAX_ROWS_PER_POLL:
            sample = self._peek()
            if sample is None or not self._due(sample.ts, now):
                break
            out.append(sample)
            self._lookahead = None
            self._row += 1
        return out

    def state(self) -> dict[str, Any]:
        return {"row": self._row, "pass": self._pass}

    def restore(self, state: dict[str, Any]) -> None:
        row, pass_ = state.get("row"), state.get("pass", 0)
        if not isinstance(row, int) or not isinstance(pass_, int) or row < 0 or pass_ < 0:
            raise ValueError(f"not a replay position: {state!r}")
        self._close_file()
        self._row, self._pass = row, pass_
        self._lookahead, self._anchor, self.finished = None, None, False

    def set_interval(self, seconds: float) -> None:
        """Rows keep their own timestamps; the sample interval does not apply."""

    def close(self) -> None:
        self._close_file()

    def _due(self, ts: float, now: float) -> bool:
        if self.speed == 0:
            return True
        if self._anchor is None:
            self._anchor = (now, ts)
            return True
        anchor_now, anchor_ts = self._anchor
        return now >= anchor_now + (ts - anchor_ts) / self.speed

    def _peek(self) -> Sample | None:
        """The next usable row, read ahead but not yet consumed; None at the end."""
        while self._lookahead is None and not self.finished:
            row = self._next_row()
            if row is None:
                self._end_of_pass()
                continue
            self._count(row)
            if row.sample is None:
                self._row += 1
            else:
                self._lookahead = row.sample
        return self._lookahead

    def _next_row(self) -> Row | None:
        if self._reader is None:
            self._open()
        assert self._reader is not None
        try:
            cells = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            return Row(None, [f"unreadable CSV row: {exc}"])
        return parse_row(cells, self._layout, shift=self._pass * self._loop_period())

    def _open(self) -> None:
        try:
            self._file = self.path.open(newline="", encoding="utf-8", errors="replace")
        except OSError as exc:
            raise DriverError(f"cannot open {self.path}: {exc.strerror}", retryable=True) from exc
        self._reader = csv.reader(self._file)
        for _ in range(self._row + 1):  # the header, then the rows already consumed
            if next(self._reader, None) is None:
                break

    def _end_of_pass(self) -> None:
        self._close_file()
        if not self.loop or self._loop_period() <= 0:
            self.finished = True
            return
        self._pass += 1
        self._row = 0

    def _loop_period(self) -> float:
        if not self.loop:
            return 0.0
        if self._period is None:
            self._period = _file_period(self.path)
        return self._period

    def _count(self, row: Row) -> None:
        if row.sample is None and row.problems:
            self.bad_rows += 1
        for problem in row.problems:
            self.bad_values += 1
            if self.bad_values <= LOGGED_PROBLEMS:
                log.warning("%s: %s row %d: %s", self.name, self.path.name, self._row + 1, problem)

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._reader = None, None


def _read_layout(path: Path) -> Layout:
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as file:
            header = next(csv.reader(file), None)
    except OSError as exc:
        raise ConfigError(f"path: cannot read {path}: {exc.strerror}") from exc
    if header is None:
        raise ConfigError(f"path: {path} is empty (it needs a header with a 'ts' column)")
    return parse_header(header)


def _file_period(path: Path) -> float:
    """How far each looped pass is shifted: the file's time span plus one step."""
    stamps: list[float] = []
    with path.open(newline="", encoding="utf-8", errors="replace") as file:
        reader = csv.reader(file)
        layout = parse_header(next(reader))
        for cells in reader:
            try:
                stamps.append(parse_cell_ts(cells[layout.ts_index]))
            except (ValueError, IndexError):
                continue
    if not stamps:
        return 0.0
    step = stamps[1] - stamps[0] if len(stamps) > 1 and stamps[1] > stamps[0] else 1.0
    return max(stamps) - min(stamps) + step


def create(options: Mapping[str, Any], ctx: DriverContext) -> ReplayDriver:
    opts = Options(options)
    path = opts.path("path", ctx.base_dir)
    if path is None:
        raise opts.error("path", "required (the CSV file to replay)")
    speed = opts.number("speed", 1.0, minimum=0.0)
    loop = opts.boolean("loop", False)
    opts.finish()
    return ReplayDriver(ctx.name or "replay", path, speed=speed, loop=loop)
