"""The command driver: runs a program and turns the JSON lines it prints into samples.

Two modes. ``stream`` (default) starts the program once and reads it for as long as it
runs; it is restarted (after the agent's growing pause) when it exits, and killed and
restarted when it prints nothing for ``timeout_s``. ``interval`` runs it every
``interval_s`` of event time and reads what it prints until it exits; a run longer than
``timeout_s`` is killed. A reader thread moves lines from the pipe to a bounded queue,
so ``poll`` never blocks; a full queue blocks the program's writes (back-pressure).
"""

from __future__ import annotations

import json
import logging
import math
import queue
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from edge_agent.drivers.base import DriverContext, DriverError, Options
from forestall.contract import SENSOR_RE, Sample, parse_ts

log = logging.getLogger(__name__)

MODES = ("stream", "interval")
MAX_LINE_BYTES = 64 * 1024
MAX_LINES_PER_POLL = 5000
QUEUE_LINES = 20_000
LOGGED_PROBLEMS = 20  # then only counted, so a chatty broken program cannot flood the log
_EOF = object()


@dataclass(frozen=True, slots=True)
class Line:
    """A parsed output line: a sample (``ts`` None: stamp with the poll time) or a problem."""

    ts: float | None
    values: dict[str, float]
    problems: tuple[str, ...] = ()


def parse_line(raw: bytes | str) -> Line:
    """``{"ts": …, "values": {…}}`` or ``{name: value, …}`` (optional ``ts`` key) → Line.

    Values that are not finite numbers, and names that break the contract, are dropped
    alone and named in ``problems``; a line without any good value has no ``values``.

    >>> parse_line('{"ts": 1795456800, "values": {"temp_c": 61.5, "flow": "high"}}')
    Line(ts=1795456800.0, values={'temp_c': 61.5}, problems=("flow: not a finite number: 'high'",))
    >>> parse_line('{"temp_c": 61.5, "Bad Name": 1}').values
    {'temp_c': 61.5}
    >>> parse_line("not json").problems
    ('not a JSON object',)
    """
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        doc = None
    if not isinstance(doc, dict):
        return Line(None, {}, ("not a JSON object",))
    ts: float | None = None
    if doc.get("ts") is not None:
        try:
            ts = parse_ts(doc["ts"])
        except ValueError as exc:  # ContractError, or a date fromisoformat refuses
            return Line(None, {}, (f"ts: {exc}",))
    values = doc["values"] if isinstance(doc.get("values"), dict) else doc
    good: dict[str, float] = {}
    problems: list[str] = []
    for name, value in values.items():
        if values is doc and name in ("ts", "values"):
            continue
        if not isinstance(name, str) or not SENSOR_RE.fullmatch(name):
            problems.append(f"{str(name)[:64]!r}: not a sensor name [a-z][a-z0-9_]{{0,63}}")
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            problems.append(f"{name}: not a finite number: {str(value)[:32]!r}")
        else:
            good[name] = float(value)
    if not good and not problems:
        problems.append("no values")
    return Line(ts, good, tuple(problems))


class _Run:
    """One run of the program: the process and the threads draining its pipes."""

    def __init__(self, argv: list[str], cwd: str, lines: queue.Queue[object]) -> None:
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.started = time.monotonic()
        self.last_output = self.started
        self.stderr: deque[str] = deque(maxlen=5)
        self.killed_because = ""
        self.returncode: int | None = None  # set once stdout is closed and the process reaped
        self.closing = threading.Event()
        self._lines = lines
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self, pipe: IO[bytes]) -> None:
        with pipe:
            while line := pipe.readline(MAX_LINE_BYTES + 1):
                self.last_output = time.monotonic()
                rest = line
                while len(rest) > MAX_LINE_BYTES and not rest.endswith(b"\n"):
                    rest = pipe.readline(MAX_LINE_BYTES + 1)  # skip the rest of an overlong line
                if not self._put(line):  # a full queue blocks us, and so the program's writes
                    return
        self.returncode = self.proc.wait()  # a hung program that closed stdout is killed on timeout
        self._put(_EOF)

    def _put(self, item: object) -> bool:
        while not self.closing.is_set():
            try:
                self._lines.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _read_stderr(self, pipe: IO[bytes]) -> None:
        with pipe:
            for line in pipe:
                text = line.decode("utf-8", "replace").rstrip()
                if text:
                    self.stderr.append(text)
                    log.debug("stderr: %s", text)

    def kill(self, because: str) -> None:
        if self.proc.poll() is None:
            self.killed_because = because
            self.proc.kill()

    def reap(self) -> int:
        """The exit code; quick once the reader saw EOF (it has waited for the process)."""
        self.returncode = self.proc.wait()
        stdout, stderr = self._threads
        stdout.join(timeout=1.0)
        stderr.join(timeout=0.1)  # a grandchild may hold stderr open; the thread is a daemon
        return self.returncode

    def close(self) -> None:
        self.closing.set()
        self.kill("stopped with the agent")
        self.reap()

    def failure(self, argv0: str) -> str:
        if self.killed_because:
            return f"{argv0} {self.killed_because}: killed"
        detail = f": {self.stderr[-1][:120]}" if self.stderr else ""
        return f"{argv0} exited with code {self.returncode}{detail}"


class CommandDriver:
    """Run ``argv`` and read JSON lines from its stdout (see the module docstring)."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        cwd: str = ".",
        mode: str = "stream",
        interval_s: float = 1.0,
        timeout_s: float = 10.0,
    ) -> None:
        if mode not in MODES or not argv or interval_s <= 0 or timeout_s <= 0:
            raise ValueError(f"bad command driver settings: {mode=} {argv=} {interval_s=} {timeout_s=}")
        self.name = name
        self.argv = argv
        self.cwd = cwd
        self.mode = mode
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.bad_lines = 0
        self.bad_values = 0
        self.runs = 0
        self._lines: queue.Queue[object] = queue.Queue(maxsize=QUEUE_LINES)
        self._run: _Run | None = None
        self._next_run: float | None = None  # event time (interval mode)
        self._error: DriverError | None = None  # shown until the program does well again

    def poll(self, now: float) -> list[Sample]:
        self._supervise(now)
        samples = self._drain(now)
        if samples or self._error is None:
            return samples
        raise self._error

    def state(self) -> None:
        return None

    def restore(self, state: dict[str, Any]) -> None:
        """Stateless: a program's output cannot be re-read."""

    def set_interval(self, seconds: float) -> None:
        """``set_config``'s ``sample_interval_s`` paces interval mode (stream mode: no-op)."""
        if math.isfinite(seconds) and seconds > 0:
            self.interval_s = seconds

    def close(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            run.close()

    # ---- internals -----------------------------------------------------------------------

    def _supervise(self, now: float) -> None:
        run = self._run
        if run is None:
            if self.mode == "stream" or self._next_run is None or now >= self._next_run:
                self._start(now)
            return
        idle = time.monotonic() - (run.started if self.mode == "interval" else run.last_output)
        if idle > self.timeout_s and self._lines.empty():
            what = "ran longer than" if self.mode == "interval" else "printed nothing for"
            run.kill(f"{what} timeout_s={self.timeout_s:g} s")

    def _start(self, now: float) -> None:
        if self.mode == "interval":
            due = now if self._next_run is None else self._next_run
            self._next_run = max(due + self.interval_s, now)  # a late run does not bunch the next ones
        try:
            self._run = _Run(self.argv, self.cwd, self._lines)
        except OSError as exc:
            self._error = DriverError(f"cannot run {self.argv[0]}: {exc.strerror or exc}")
            return
        self.runs += 1

    def _drain(self, now: float) -> list[Sample]:
        samples: list[Sample] = []
        for _ in range(MAX_LINES_PER_POLL):
            try:
                item = self._lines.get_nowait()
            except queue.Empty:
                break
            if item is _EOF:
                self._finished()
                continue
            assert isinstance(item, bytes)
            if self.mode == "stream" and self._run is not None:
                self._run.last_output = time.monotonic()
            sample = self._sample(item, now)
            if sample is not None:
                samples.append(sample)
                if self.mode == "stream":
                    self._error = None  # the program delivers (an exit later in the queue sets it again)
        return samples

    def _sample(self, raw: bytes, now: float) -> Sample | None:
        line = (
            Line(None, {}, (f"longer than {MAX_LINE_BYTES} bytes",))
            if len(raw) > MAX_LINE_BYTES
            else parse_line(raw)
        )
        if line.problems:
            self.bad_values += len(line.problems) if line.values else 0
            self.bad_lines += 0 if line.values else 1
            if self.bad_lines + self.bad_values <= LOGGED_PROBLEMS:
                log.warning("%s: bad output line %r: %s", self.name, raw[:120], "; ".join(line.problems))
        if not line.values:
            return None
        return Sample(now if line.ts is None else line.ts, line.values)

    def _finished(self) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        code = run.reap()
        if code == 0 and not run.killed_because and self.mode == "interval":
            self._error = None
            return
        self._error = DriverError(run.failure(self.argv[0]))
        log.warning("%s: %s", self.name, self._error)


def create(options: Mapping[str, Any], ctx: DriverContext) -> CommandDriver:
    opts = Options(options)
    argv = opts.text_list("argv")
    if argv is None:
        raise opts.error("argv", 'required: the program and its arguments, e.g. ["python3", "read.py"]')
    mode = opts.text("mode", "stream")
    if mode not in MODES:
        raise opts.error("mode", 'must be "stream" or "interval"')
    interval = opts.number("interval_s", ctx.sample_interval_s, positive=True)
    timeout = opts.number("timeout_s", 10.0, positive=True)
    opts.finish()
    return CommandDriver(
        ctx.name or "command", argv, cwd=ctx.base_dir, mode=mode, interval_s=interval, timeout_s=timeout
    )
