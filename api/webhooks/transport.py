"""The HTTP transport of webhook delivery: vetted addresses only, and one deadline per attempt.

Both are enforced at the socket, under httpx, through httpcore's network backend:

- ``connect_tcp`` resolves the host itself, vets every address with the ``EgressPolicy`` and
  connects to the vetted one, so no second resolution can slip another address in between
  (the URL, ``Host`` and TLS SNI keep the name; certificates are checked against it);
- every connect, read and write is given at most the time left until the attempt's deadline,
  so a receiver that trickles its answer a byte at a time fails at the deadline as a whole
  (httpx's own timeouts apply to each read alone).

The deadline is per thread: each sending thread runs one attempt at a time.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from api.webhooks.egress import EgressPolicy


class Deadline(threading.local):
    """When the current thread's attempt must be over (monotonic seconds)."""

    at = float("inf")

    def start(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def bound(self, timeout: float | None, late: type[httpcore.TimeoutException]) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise late("the attempt's deadline passed")
        return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, bounded), self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, egress: EgressPolicy, deadline: Deadline) -> None:
        self._inner = httpcore.SyncBackend()
        self._egress = egress
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        address = self._egress.vetted_address(host, port)
        bounded = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        stream = self._inner.connect_tcp(str(address), port, bounded, local_address, socket_options)
        return _Stream(stream, self._deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks are not sent over unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def vetted_transport(egress: EgressPolicy, deadline: Deadline, limits: httpx.Limits) -> httpx.HTTPTransport:
    """An ``httpx.HTTPTransport`` whose connections go through the egress policy and the deadline."""
    transport = httpx.HTTPTransport(limits=limits)
    # httpx does not take a network backend; its pool does (httpcore's documented extension point).
    pool: httpcore.ConnectionPool = transport._pool
    pool._network_backend = _Backend(egress, deadline)
    return transport
