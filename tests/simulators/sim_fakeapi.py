"""A fake FSM *peer*: a real HTTP server standing in for the Forestall API, recording every call."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.client import HTTPMessage
from typing import Any

from tests.support import JsonServer


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
        self._http = JsonServer(self._answer)
        self.url = self._http.url

    def _answer(self, method: str, target: str, headers: HTTPMessage, raw: bytes) -> tuple[int, Any]:
        return self.answer(method, target, json.loads(raw) if raw else None, headers.get("authorization", ""))

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
        self._http.close()
