"""``/v1/exports/*.csv``: customer risk (with contributions), recommendations and outcomes as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.checked import CheckedRoute
from api.crud import exports as crud
from api.crud.recommendations import RecommendationFilter
from api.deps import Dispatcher, SessionDep, TimeRangeDep, split_list
from api.routes.recommendations import KindFilter, PriorityFilter, StatusFilter, checked_values
from forestall.contract import format_ts
from forestall.state.outcomes import negative_label, outcome_events
from forestall.state.views import ts_or_none
from forestall.vocab import PRIORITIES, RECOMMENDATION_KINDS, STATUSES

router = APIRouter(prefix="/exports", tags=["exports"], route_class=CheckedRoute)

CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "a CSV file with a header row",
    }
}
RECOMMENDATION_COLUMNS = (
    "id",
    "status",
    "priority",
    "priority_score",
    "customer_id",
    "site",
    "asset_ids",
    "window_start",
    "window_end",
    "sla_due_at",
    "fits_sla",
    "predicted_failure_at",
    "confidence",
    "risk_index",
    "source",
    "created_at",
    "scheduled_for",
    "closed_at",
    "close_reason",
    "signals",
    "top_sensors",
    "kind",
)


def _cell(value: Any) -> Any:
    # A text cell starting like a formula would run as one in a spreadsheet (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


def _names(value: Any) -> str:
    """A list of signal / sensor names (or {name: weight}) as ``a;b;c``."""
    if isinstance(value, dict):
        return ";".join(str(k) for k in value)
    if isinstance(value, list):
        return ";".join(str(v.get("name", v)) if isinstance(v, dict) else str(v) for v in value)
    return "" if value is None else str(value)


@router.get("/risk.csv", response_class=Response, responses=CSV_RESPONSE)
def export_risk(session: SessionDep, principal: Dispatcher) -> Response:
    """Every customer, highest risk first: id, name, segment, SLA tier, risk index, when it was
    computed (event time), then one ``contribution_<name>`` column per risk contribution."""
    rows = crud.customers_with_risk(session, principal.tenant)
    names = sorted({name for _, risk in rows if risk for name in risk.contributions})
    header = ["customer_id", "name", "segment", "sla_tier", "risk_index", "risk_at"]
    header += [f"contribution_{name}" for name in names]
    lines = []
    for customer, risk in rows:
        line: list[Any] = [customer.id, customer.name, customer.segment, customer.sla_tier]
        if risk is None:
            line += ["", ""] + [""] * len(names)
        else:
            line += [round(risk.risk_index, 2), format_ts(risk.at)]
            line += [round(float(risk.contributions.get(name, 0.0)), 4) for name in names]
        lines.append(line)
    return _csv(header, lines, "risk.csv")


@router.get("/recommendations.csv", response_class=Response, responses=CSV_RESPONSE)
def export_recommendations(
    session: SessionDep,
    principal: Dispatcher,
    window: TimeRangeDep,
    status_: StatusFilter = None,
    customer: Annotated[str | None, Query(description="customer id")] = None,
    priority: PriorityFilter = None,
    kind: KindFilter = None,
) -> Response:
    """Newest first, with the filters of ``GET /v1/recommendations``; ``asset_ids``,
    ``signals`` and ``top_sensors`` are ``;``-separated."""
    where = RecommendationFilter(
        statuses=checked_values(split_list(status_), STATUSES, "status"),
        priorities=checked_values(split_list(priority), PRIORITIES, "priority"),
        kinds=checked_values(split_list(kind), RECOMMENDATION_KINDS, "kind"),
        customer_id=customer,
        created_from=window.start,
        created_to=window.end,
    )
    lines = (
        [
            r.id,
            r.status,
            r.priority,
            round(r.priority_score, 4),
            r.customer_id or "",
            r.site or "",
            ";".join(r.asset_ids),
            format_ts(r.window_start),
            format_ts(r.window_end),
            format_ts(r.sla_due_at),
            r.fits_sla,
            ts_or_none(r.predicted_failure_at) or "",
            round(r.confidence, 4),
            round(r.risk_index, 2),
            r.source,
            format_ts(r.created_at),
            ts_or_none(r.scheduled_for) or "",
            ts_or_none(r.closed_at) or "",
            r.close_reason or "",
            _names((r.reason or {}).get("signals")),
            _names((r.reason or {}).get("top_sensors")),
            r.kind,
        ]
        for r in crud.all_recommendations(session, principal.tenant, where)
    )
    return _csv(RECOMMENDATION_COLUMNS, lines, "recommendations.csv")


OUTCOME_COLUMNS = (
    "id",
    "customer_id",
    "occurred_at",
    "event",
    "kind",
    "score",
    "negative",
    "label",
    "reason",
    "recorded_at",
)


@router.get("/outcomes.csv", response_class=Response, responses=CSV_RESPONSE)
def export_outcomes(
    session: SessionDep,
    principal: Dispatcher,
    window: TimeRangeDep,
    customer: Annotated[str | None, Query(description="customer id")] = None,
) -> Response:
    """The outcomes the tenant reported, oldest first in event time (``from``/``to`` bound
    ``occurred_at``): every survey (``event`` feedback), escalation (incident) and contract
    ended or downgraded (contract). ``negative`` is true for a detractor NPS (0–6), an escalation
    and a contract ended or downgraded, and ``label`` names it: what a model learns from."""
    events = outcome_events(
        session, principal.tenant, start=window.start, end=window.end, customer_id=customer
    )
    lines = []
    for e in events:
        label = negative_label(e.kind, e.data)
        score = e.data.get("score") if e.kind == "feedback" else None
        reason = e.data.get("reason") if e.kind == "contract" else None
        lines.append(
            [
                e.id,
                e.customer_id or "",
                format_ts(e.occurred_at),
                e.kind,
                e.data.get("kind", ""),
                f"{score:g}" if isinstance(score, int | float) else "",
                label is not None,
                label or "",
                reason or "",
                format_ts(e.recorded_at),
            ]
        )
    return _csv(OUTCOME_COLUMNS, lines, "outcomes.csv")
