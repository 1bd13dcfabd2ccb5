"""A fake FSM *peer*: a real HTTP server standing in for the Forestall API, recording every call."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any


class FakeApi:
    """Answers 201 to writes and knows one asset->customer mapping; ``fail_next`` injects 503s."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.auth: list[str] = []
        self.fail_next = 0
        self.conflict_paths: set[str] = set()
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                status, answer = api.answer(
                    self.command, self.path, body, self.headers.get("authorization", "")
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = _handle  # noqa: N815 - http.server's naming

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, method: str, path: str, body: Any, auth: str) -> tuple[int, Any]:
        with self.lock:
            self.auth.append(auth)
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {"detail": "try later"}
            self.calls.append(Call(method, path, body))
            if method == "POST" and path in self.conflict_paths:
                return 409, {"detail": "exists"}
        if method == "GET" and path.startswith("/v1/assets/"):
            return 200, {"id": path.rsplit("/", 1)[1], "customer_id": "cust-001"}
        return 201, {"id": "x", **(body or {})}

    def find(self, method: str, path_part: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls if c.method == method and path_part in c.path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
