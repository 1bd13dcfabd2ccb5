"""Prometheus metrics of one API process, in a registry of its own (no import-time globals)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "forestall_api_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "forestall_api_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            registry=self.registry,
        )
        self.webhook_attempts = Counter(
            "forestall_webhook_attempts_total",
            "Webhook delivery attempts by result",
            ["result"],
            registry=self.registry,
        )
        self.webhook_latency = Histogram(
            "forestall_webhook_attempt_duration_seconds",
            "Time of one webhook delivery attempt",
            registry=self.registry,
        )
        self.webhook_backlog = Gauge(
            "forestall_webhook_deliveries",
            "Webhook deliveries by status (read at scrape time)",
            ["status"],
            registry=self.registry,
        )

    async def middleware(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        # The route template, not the raw path, keeps label cardinality bounded.
        name = str(getattr(route, "path", "unmatched"))
        self.requests.labels(request.method, name, str(response.status_code)).inc()
        self.latency.labels(request.method, name).observe(time.perf_counter() - start)
        return response
