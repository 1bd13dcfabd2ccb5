"""The time-series points of what happens besides readings (docs/ARCHITECTURE.md, storage): what the
dashboards chart next to health and risk. Pure functions from the state DB's facts to ``Point``s;
the worker writes them (ingest: liveness and rejections; predictor: the events it reads).

| measurement | tags | fields |
|---|---|---|
| ``asset_status`` | tenant, asset, customer | online (1 or 0), at each change |
| ``ingest_rejections`` | tenant, reason | count, per chunk |
| ``feedback`` | tenant, customer, segment, kind (csat, nps, ces) | score |
| ``incident`` | tenant, customer, segment, kind | count (1), duration_min when known |
| ``contract`` | tenant, customer, segment, kind (ended, downgraded) | count (1) |
| ``failure`` | tenant, customer, asset | count (1): an unplanned failure |
| ``visit_outcome`` | tenant, customer, asset, result (fault_found, no_fault) | fault_found (1 or 0) |
| ``capacity`` | tenant | waiting (overbooked), booked, technicians; each planning pass |
| ``visit_capacity`` | tenant, customer, asset, recommendation, technician | overbooked, rank, harm, † |

``visit_capacity`` is written when a visit's place in the technicians' plan changes (†:
``start_in_hours``, from then to its slot, when it has one).

A fault found on a visit is a failure prevented.

An event's points are stamped at its time plus its id in microseconds (modulo 1000): InfluxDB
keeps one point per series and instant, and two outages of one customer may start together.

>>> nps = {"kind": "nps", "score": 9}
>>> [(p.fields, p.ts) for p in event_points(7, "feedback", "acme", "c1", None, 10.0, nps, "key")]
[({'score': 9.0}, 10.000007)]
>>> [point] = event_points(9, "contract", "acme", "c1", None, 10.0, {"kind": "ended"}, "key")
>>> (point.measurement, point.tags["kind"], point.tags["segment"], point.fields)
('contract', 'ended', 'key', {'count': 1.0})
>>> event_points(8, "maintenance", "acme", "c1", "p1", 10.0, {"kind": "repair"}, "key")
[]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forestall.series import Point


def status_point(tenant: str, asset: str, customer: str | None, online: bool, at: float) -> Point:
    return Point(
        "asset_status",
        {"tenant": tenant, "asset": asset, "customer": customer or ""},
        {"online": float(online)},
        at,
    )


def rejection_points(counts: Mapping[tuple[str, str], int], at: float) -> list[Point]:
    """One point per (tenant, reason) of a chunk; a message with no tenant counts under ''."""
    return [
        Point("ingest_rejections", {"tenant": tenant, "reason": reason}, {"count": float(n)}, at)
        for (tenant, reason), n in sorted(counts.items())
    ]


SEGMENTED = frozenset(
    {"feedback", "incident", "contract"}
)  # event kinds whose points carry the customer's segment


def event_points(
    event_id: int,
    kind: str,
    tenant: str,
    customer: str | None,
    asset: str | None,
    at: float,
    data: Mapping[str, Any],
    segment: str | None,
) -> list[Point]:
    """The points of one event of the events table (none for kinds the dashboards do not chart)."""
    who = {"tenant": tenant, "customer": customer or ""}
    at += (event_id % 1000) * 1e-6
    if kind == "feedback":
        tags = {**who, "segment": segment or "", "kind": str(data.get("kind", ""))}
        return [Point("feedback", tags, {"score": float(data["score"])}, at)]
    if kind == "incident":
        fields = {"count": 1.0}
        if data.get("duration_min") is not None:
            fields["duration_min"] = float(data["duration_min"])
        tags = {**who, "segment": segment or "", "kind": str(data.get("kind", ""))}
        return [Point("incident", tags, fields, at)]
    if kind == "contract":
        tags = {**who, "segment": segment or "", "kind": str(data.get("kind", ""))}
        return [Point("contract", tags, {"count": 1.0}, at)]
    if kind == "maintenance" and data.get("kind") == "failure" and asset:
        return [Point("failure", {**who, "asset": asset}, {"count": 1.0}, at)]
    if kind == "outcome" and asset:
        found = bool(data.get("fault_found"))
        tags = {**who, "asset": asset, "result": "fault_found" if found else "no_fault"}
        return [Point("visit_outcome", tags, {"fault_found": float(found)}, at)]
    return []


def capacity_point(tenant: str, waiting: int, booked: int, technicians: int, at: float) -> Point:
    """The technicians' plan of a tenant after a planning pass: visits waiting for capacity and booked."""
    fields = {"waiting": float(waiting), "booked": float(booked), "technicians": float(technicians)}
    return Point("capacity", {"tenant": tenant}, fields, at)


def visit_capacity_point(
    tenant: str,
    customer: str | None,
    asset: str,
    recommendation: str,
    placed: Mapping[str, Any],
    overbooked: bool,
    at: float,
) -> Point:
    """One visit's new place in the plan (``Recommendation.capacity``): booked or waiting, and when."""
    tags = {
        "tenant": tenant,
        "customer": customer or "",
        "asset": asset,
        "recommendation": recommendation,
        "technician": str(placed.get("technician_id") or ""),
    }
    fields = {
        "overbooked": float(overbooked),
        "rank": float(placed["rank"]),
        "harm": float(placed["harm"]),
    }
    if placed.get("start") is not None:
        fields["start_in_hours"] = (float(placed["start"]) - at) / 3600.0
    return Point("visit_capacity", tags, fields, at)
