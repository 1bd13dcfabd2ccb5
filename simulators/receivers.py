"""Webhook receivers that misbehave, for tests and benchmarks of delivery isolation.

A real HTTP/1.1 server on loopback (asyncio, in a thread of its own, any number of open
connections) that reads each request and answers according to its ``mode``:

- ``ok``: 204 at once, and notes when each ``webhook-id`` arrived;
- ``trickle``: a 200 answer sent one byte every ``interval_s``, as slowly as a receiver can
  without ever letting a per-read timeout fire;
- ``flood``: a 500 whose body is ``flood_bytes`` long (150 MB by default), sent as fast as
  the client reads it;
- ``nul``: a 500 whose body holds NUL and other bytes a database cannot store as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

from forestall.broker import free_port

MODES = ("ok", "trickle", "flood", "nul")
TRICKLED = b"HTTP/1.1 200 OK\r\ncontent-length: 40\r\n\r\n" + b"." * 40
NUL_BODY = b"upstream error \x00\x01\x02 \xff\xfe not utf-8 \x00 <html>" * 4
CHUNK = 64 * 1024


class MisbehavingReceiver:
    def __init__(self, mode: str, *, interval_s: float = 3.0, flood_bytes: int = 150_000_000) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.mode = mode
        self.interval_s = interval_s
        self.flood_bytes = flood_bytes
        self.port = free_port()
        self.requests = 0
        self.bytes_sent = 0
        self.arrivals: dict[str, float] = {}  # webhook-id -> wall time of arrival (mode ok)
        self.hosts: list[str] = []  # the Host header of each request
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> MisbehavingReceiver:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("receiver did not start")
        return self

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(10)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:  # the connections still open (a trickle in progress)
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = _headers(head)
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests += 1
                self.hosts.append(headers.get("host", ""))
                if self.mode == "ok":
                    self.arrivals.setdefault(headers.get("webhook-id", ""), time.time())
                    writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                await getattr(self, f"_{self.mode}")(writer)
                return
        except (
            asyncio.IncompleteReadError,
            ConnectionError,
            asyncio.LimitOverrunError,
            asyncio.CancelledError,
        ):
            pass
        finally:
            writer.close()

    async def _trickle(self, writer: asyncio.StreamWriter) -> None:
        for i in range(len(TRICKLED)):
            writer.write(TRICKLED[i : i + 1])
            await writer.drain()
            self.bytes_sent += 1
            await asyncio.sleep(self.interval_s)

    async def _flood(self, writer: asyncio.StreamWriter) -> None:
        writer.write(_error_head(self.flood_bytes))
        block = b"x" * CHUNK
        sent = 0
        while sent < self.flood_bytes:
            part = block[: min(CHUNK, self.flood_bytes - sent)]
            writer.write(part)
            await writer.drain()
            sent += len(part)
            self.bytes_sent += len(part)

    async def _nul(self, writer: asyncio.StreamWriter) -> None:
        writer.write(_error_head(len(NUL_BODY)))
        writer.write(NUL_BODY)
        await writer.drain()


def _error_head(length: int) -> bytes:
    return f"HTTP/1.1 500 Internal Server Error\r\ncontent-length: {length}\r\n\r\n".encode()


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}
