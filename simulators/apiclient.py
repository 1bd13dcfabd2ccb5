"""A small typed client for the ``/v1`` REST API (docs/ARCHITECTURE.md, HTTP API), used by the simulators.

Errors::

    ApiError                 any failed call; ``status`` is the HTTP status or None
    ├── retryable=True       transport errors, 429 and 5xx: try again later
    └── retryable=False      other 4xx: the request itself is wrong

Times go out as RFC 3339 strings (``forestall.contract.format_ts``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import httpx

from forestall.contract import format_ts
from forestall.workhours import WeeklyHours

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_NOTES = 2000


class ApiError(Exception):
    def __init__(self, message: str, *, status: int | None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


def with_retries(call: Callable[[], T], *, attempts: int = 4, backoff_s: float = 0.2) -> T:
    """Run ``call``, retrying retryable ApiErrors with exponential backoff."""
    for attempt in range(attempts):
        try:
            return call()
        except ApiError as exc:
            if not exc.retryable or attempt == attempts - 1:
                raise
            log.warning("API call failed (%s), retrying", exc)
            time.sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")


class ApiClient:
    """Bearer-key client; every method raises ApiError on failure."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ApiError(f"{method} {path}: {exc}", status=None, retryable=True) from exc
        if response.status_code >= 400:
            retryable = response.status_code == 429 or response.status_code >= 500
            raise ApiError(
                f"{method} {path}: HTTP {response.status_code} {response.text[:300]}",
                status=response.status_code,
                retryable=retryable,
            )
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    # -- registry -----------------------------------------------------------------------------

    def upsert(self, collection: str, object_id: str, fields: dict[str, Any]) -> Any:
        """Create the object ``object_id`` of ``/v1/{collection}`` or replace all its fields (PUT)."""
        return self.request("PUT", f"/v1/{collection}/{object_id}", fields)

    def upsert_customer(
        self, customer_id: str, name: str, segment: str, sla_tier: str, visit_sensitivity: float
    ) -> Any:
        return self.upsert(
            "customers",
            customer_id,
            {
                "name": name,
                "segment": segment,
                "sla_tier": sla_tier,
                "visit_sensitivity": visit_sensitivity,
            },
        )

    def upsert_asset(
        self,
        asset_id: str,
        customer_id: str | None,
        asset_type: str,
        site: str | None,
        criticality: int,
        safety_critical: bool,
    ) -> Any:
        return self.upsert(
            "assets",
            asset_id,
            {
                "customer_id": customer_id,
                "asset_type": asset_type,
                "site": site,
                "criticality": criticality,
                "safety_critical": safety_critical,
            },
        )

    def upsert_technician(
        self,
        technician_id: str,
        name: str,
        skills: Sequence[str],
        regions: Sequence[str],
        hours: WeeklyHours,
        active: bool = True,
    ) -> Any:
        """Register a technician or crew, or replace all its fields: the asset types they serve
        (``skills``), the sites or region labels they cover, their weekly hours in their zone."""
        return self.upsert(
            "technicians",
            technician_id,
            {
                "name": name,
                "skills": list(skills),
                "regions": list(regions),
                "timezone": hours.timezone,
                "hours": hours.as_text(),
                "active": active,
            },
        )

    # -- facts from the field -----------------------------------------------------------------

    def post_incident(
        self,
        customer_id: str,
        kind: str,
        opened_at: float,
        resolved_at: float | None = None,
        duration_min: float | None = None,
        notes: str | None = None,
    ) -> Any:
        body: dict[str, Any] = {"customer_id": customer_id, "kind": kind, "opened_at": format_ts(opened_at)}
        if resolved_at is not None:
            body["resolved_at"] = format_ts(resolved_at)
        if duration_min is not None:
            body["duration_min"] = duration_min
        if notes:
            body["notes"] = notes[:MAX_NOTES]
        return self.request("POST", "/v1/incidents", body)

    def post_feedback(self, customer_id: str, kind: str, score: float, at: float) -> Any:
        body = {"customer_id": customer_id, "kind": kind, "score": score, "at": format_ts(at)}
        return self.request("POST", "/v1/feedback", body)

    def post_contract_event(
        self, customer_id: str, kind: str, occurred_at: float, reason: str | None = None
    ) -> Any:
        """A contract the customer ended or downgraded (``kind``: ended, downgraded)."""
        body: dict[str, Any] = {
            "customer_id": customer_id,
            "kind": kind,
            "occurred_at": format_ts(occurred_at),
        }
        if reason:
            body["reason"] = reason[:200]
        return self.request("POST", "/v1/contract-events", body)

    def post_maintenance_event(
        self, asset_id: str, kind: str, occurred_at: float, fault_code: str | None = None
    ) -> Any:
        body: dict[str, Any] = {"asset_id": asset_id, "kind": kind, "occurred_at": format_ts(occurred_at)}
        if fault_code is not None:
            body["fault_code"] = fault_code
        return self.request("POST", "/v1/maintenance-events", body)

    # -- recommendations ----------------------------------------------------------------------

    def get_recommendation(self, recommendation_id: str) -> Any:
        return self.request("GET", f"/v1/recommendations/{recommendation_id}")

    def accept(self, recommendation_id: str) -> Any:
        return self.request("POST", f"/v1/recommendations/{recommendation_id}/accept", {})

    def schedule(self, recommendation_id: str, scheduled_for: float) -> Any:
        body = {"scheduled_for": format_ts(scheduled_for)}
        return self.request("POST", f"/v1/recommendations/{recommendation_id}/schedule", body)

    def outcome(
        self,
        recommendation_id: str,
        fault_found: bool,
        fault_code: str | None,
        repaired_at: float | None,
        notes: str | None = None,
    ) -> Any:
        body: dict[str, Any] = {"fault_found": fault_found}
        if fault_code is not None:
            body["fault_code"] = fault_code
        if repaired_at is not None:
            body["repaired_at"] = format_ts(repaired_at)
        if notes:
            body["notes"] = notes[:MAX_NOTES]
        return self.request("POST", f"/v1/recommendations/{recommendation_id}/outcome", body)

    # -- webhooks -----------------------------------------------------------------------------

    def create_webhook(self, url: str, secret: str | None = None, events: list[str] | None = None) -> Any:
        body: dict[str, Any] = {"url": url}
        if secret is not None:
            body["secret"] = secret
        if events:
            body["events"] = events
        return self.request("POST", "/v1/webhooks", body)
