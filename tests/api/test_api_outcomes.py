"""Outcomes as data: contract events, the refusal of future outcomes, the outcomes export and
the negative-outcome labels a model learns from."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
from sqlalchemy import select

from forestall.contract import format_ts
from forestall.state.models import Event
from forestall.state.outcomes import negative_label, negative_outcomes
from forestall.state.repo import advance_clock
from tests.api.conftest import EVENT_NOW, Tenant

DAY = 86_400.0
MAX_FUTURE_S = 86_400.0  # worker.max_future_s of the tests' settings (the default)


def contract(
    customer: str = "c1", kind: str = "ended", at: float = EVENT_NOW - 3600, **more: Any
) -> dict[str, Any]:
    return {"customer_id": customer, "kind": kind, "occurred_at": at, **more}


def test_contract_events_are_stored_in_event_time_and_listed(tenant: Tenant, seed: Any) -> None:
    admin = tenant.client()
    seed.customer(admin, "c1")
    seed.customer(admin, "c2")
    fsm = tenant.client("fsm")
    body = contract(at="2027-01-14T10:00:00Z", reason="price", details="moved to a rival")
    created = fsm.post("/v1/contract-events", json=body)
    assert created.status_code == 201, created.text
    event = created.json()
    assert (event["customer_id"], event["kind"], event["occurred_at"], event["reason"], event["details"]) == (
        "c1",
        "ended",
        "2027-01-14T10:00:00.000Z",
        "price",
        "moved to a rival",
    )
    assert fsm.post("/v1/contract-events", json=contract("c2", "downgraded")).status_code == 201

    with tenant.db() as session:
        row = session.scalars(select(Event).where(Event.tenant == tenant.name, Event.id == event["id"])).one()
        assert (row.kind, row.customer_id, row.data["kind"], row.data["reason"]) == (
            "contract",
            "c1",
            "ended",
            "price",
        )

    items = admin.get("/v1/contract-events").json()["items"]
    assert [(i["customer_id"], i["kind"]) for i in items] == [("c2", "downgraded"), ("c1", "ended")]
    only = admin.get("/v1/contract-events", params={"kind": "ended", "customer": "c1"}).json()["items"]
    assert [i["id"] for i in only] == [event["id"]]
    assert admin.get("/v1/contract-events", params={"to": "2027-01-14T10:00:00Z"}).json()["items"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "paused"},  # unknown kind
        {"customer_id": "c1\u0000"},
        {"reason": "price\u0000"},
        {"details": "x\u0000y"},
        {"occurred_at": "not a time"},
        {"occurred_at": 1e300},
        {"reason": ""},
        {"surprise": 1},
    ],
)
def test_bad_contract_events_are_422(tenant: Tenant, seed: Any, change: dict[str, Any]) -> None:
    admin = tenant.client()
    seed.customer(admin, "c1")
    response = admin.post("/v1/contract-events", json={**contract(), **change})
    assert response.status_code == 422, response.text
    assert admin.get("/v1/contract-events").json()["items"] == []


def test_nan_in_a_contract_event_is_422(tenant: Tenant, seed: Any) -> None:
    admin = tenant.client()
    seed.customer(admin, "c1")
    text = '{"customer_id": "c1", "kind": "ended", "occurred_at": NaN}'
    response = admin.post("/v1/contract-events", content=text, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text


def test_contract_events_stay_in_their_tenant(tenant: Tenant, other_tenant: Tenant, seed: Any) -> None:
    seed.customer(other_tenant.client(), "theirs")
    seed.customer(tenant.client(), "c1")
    # Another tenant's customer, and a customer of none, are not found.
    for customer in ("theirs", "ghost"):
        response = tenant.client().post("/v1/contract-events", json=contract(customer))
        assert response.status_code == 404, response.text
    assert other_tenant.client().post("/v1/contract-events", json=contract("theirs")).status_code == 201
    assert tenant.client().get("/v1/contract-events").json()["items"] == []
    assert tenant.client().get("/v1/contract-events", params={"customer": "theirs"}).json()["items"] == []
    rows = list(csv.DictReader(io.StringIO(tenant.client().get("/v1/exports/outcomes.csv").text)))
    assert rows == []
    with tenant.db() as session:
        assert negative_outcomes(session, tenant.name) == {}
        assert list(negative_outcomes(session, other_tenant.name)) == ["theirs"]
    # The roles that report field events may report contracts; a reader of nothing may not.
    assert tenant.client("anonymous").post("/v1/contract-events", json=contract()).status_code == 401


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/contract-events", lambda at: contract(at=at)),
        ("/v1/feedback", lambda at: {"customer_id": "c1", "kind": "nps", "score": 3, "at": at}),
        ("/v1/incidents", lambda at: {"customer_id": "c1", "kind": "escalation", "opened_at": at}),
    ],
)
def test_outcomes_beyond_the_event_clock_are_refused(tenant: Tenant, seed: Any, path: str, body: Any) -> None:
    admin = tenant.client()
    seed.customer(admin, "c1")
    # The tenant's event clock is ten days ahead of the tests' EVENT_NOW (and of the wall clock).
    clock = max(EVENT_NOW, time.time()) + 10 * DAY
    with tenant.db.begin() as session:
        advance_clock(session, tenant.name, clock)
    too_late = clock + MAX_FUTURE_S + 60
    refused = admin.post(path, json=body(too_late))
    assert refused.status_code == 422, refused.text
    assert "ahead of the tenant's event clock" in refused.text and format_ts(too_late) in refused.text
    # Within the tolerance of the event clock (though days past the wall clock): accepted.
    assert admin.post(path, json=body(clock + MAX_FUTURE_S - 60)).status_code == 201
    kind = {"/v1/contract-events": "contract", "/v1/feedback": "feedback", "/v1/incidents": "incident"}[path]
    with tenant.db() as session:
        stored = session.scalars(
            select(Event.occurred_at).where(Event.tenant == tenant.name, Event.kind == kind)
        )
        assert list(stored) == [clock + MAX_FUTURE_S - 60]


def post_outcomes(tenant: Tenant, seed: Any) -> None:
    admin = tenant.client()
    for customer in ("c1", "c2", "c3"):
        seed.customer(admin, customer)
    posts = [
        ("/v1/feedback", {"customer_id": "c1", "kind": "nps", "score": 6, "at": EVENT_NOW - 5 * 3600}),
        ("/v1/feedback", {"customer_id": "c1", "kind": "nps", "score": 7, "at": EVENT_NOW - 4 * 3600}),
        ("/v1/feedback", {"customer_id": "c2", "kind": "csat", "score": 1, "at": EVENT_NOW - 3 * 3600}),
        ("/v1/incidents", {"customer_id": "c2", "kind": "escalation", "opened_at": EVENT_NOW - 2 * 3600}),
        ("/v1/incidents", {"customer_id": "c2", "kind": "outage", "opened_at": EVENT_NOW - 2 * 3600}),
        ("/v1/contract-events", contract("c3", "downgraded", EVENT_NOW - 3600, reason="=cost")),
        ("/v1/contract-events", contract("c1", "ended", EVENT_NOW - 1800)),
    ]
    for path, body in posts:
        response = admin.post(path, json=body)
        assert response.status_code == 201, response.text


def test_the_outcomes_export_lists_surveys_escalations_and_contracts(tenant: Tenant, seed: Any) -> None:
    post_outcomes(tenant, seed)
    response = tenant.client("dispatcher").get("/v1/exports/outcomes.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [
        (r["customer_id"], r["event"], r["kind"], r["score"], r["negative"], r["label"]) for r in rows
    ] == [
        ("c1", "feedback", "nps", "6", "True", "detractor"),
        ("c1", "feedback", "nps", "7", "False", ""),
        ("c2", "feedback", "csat", "1", "False", ""),
        ("c2", "incident", "escalation", "", "True", "escalation"),  # the outage is no outcome
        ("c3", "contract", "downgraded", "", "True", "contract_downgraded"),
        ("c1", "contract", "ended", "", "True", "contract_ended"),
    ]
    assert rows[0]["occurred_at"] == format_ts(EVENT_NOW - 5 * 3600)
    assert rows[4]["reason"] == "'=cost"  # not a formula in a spreadsheet
    one = tenant.client().get(
        "/v1/exports/outcomes.csv", params={"customer": "c2", "from": EVENT_NOW - 2 * 3600}
    )
    assert [(r["event"], r["kind"]) for r in csv.DictReader(io.StringIO(one.text))] == [
        ("incident", "escalation")
    ]
    assert tenant.client("fsm").get("/v1/exports/outcomes.csv").status_code == 403


def test_negative_outcomes_are_the_labels_per_customer_in_event_time(tenant: Tenant, seed: Any) -> None:
    post_outcomes(tenant, seed)
    with tenant.db() as session:
        labels = negative_outcomes(session, tenant.name)
        assert {c: [(o.label, o.at) for o in outcomes] for c, outcomes in labels.items()} == {
            "c1": [("detractor", EVENT_NOW - 5 * 3600), ("contract_ended", EVENT_NOW - 1800)],
            "c2": [("escalation", EVENT_NOW - 2 * 3600)],
            "c3": [("contract_downgraded", EVENT_NOW - 3600)],
        }
        window = negative_outcomes(session, tenant.name, start=EVENT_NOW - 2 * 3600, end=EVENT_NOW - 1800)
        assert {c: [o.label for o in outcomes] for c, outcomes in window.items()} == {
            "c2": ["escalation"],
            "c3": ["contract_downgraded"],
        }


@pytest.mark.parametrize(
    ("kind", "data", "label"),
    [
        ("feedback", {"kind": "nps", "score": 0}, "detractor"),
        ("feedback", {"kind": "nps", "score": 6.0}, "detractor"),
        ("feedback", {"kind": "nps", "score": 6.5}, None),
        ("feedback", {"kind": "nps", "score": 10}, None),
        ("feedback", {"kind": "csat", "score": 1}, None),
        ("feedback", {"kind": "nps", "score": None}, None),
        ("incident", {"kind": "escalation"}, "escalation"),
        ("incident", {"kind": "outage"}, None),
        ("contract", {"kind": "ended"}, "contract_ended"),
        ("contract", {"kind": "downgraded"}, "contract_downgraded"),
        ("contract", {"kind": "paused"}, None),
        ("outcome", {"fault_found": True}, None),
    ],
)
def test_negative_label(kind: str, data: dict[str, Any], label: str | None) -> None:
    assert negative_label(kind, data) == label


def test_the_openapi_shows_contract_events_and_the_outcomes_export(tenant: Tenant) -> None:
    spec = tenant.client("anonymous").get("/openapi.json").json()
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/v1/contract-events"])
    assert "422" in paths["/v1/contract-events"]["post"]["responses"]
    assert "text/csv" in paths["/v1/exports/outcomes.csv"]["get"]["responses"]["200"]["content"]
    body = spec["components"]["schemas"]["ContractEventCreate"]
    assert body["properties"]["kind"]["enum"] == ["ended", "downgraded"]
    assert set(body["required"]) == {"customer_id", "kind", "occurred_at"}
