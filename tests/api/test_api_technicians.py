"""Technicians (issue #26, item 3): CRUD, paging and filters, roles, tenant isolation, and every
refusal (no skill, no region, unknown zone or weekday, inverted or overlapping hours) a 422
that leaves the state DB as it was. On the real API, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from forestall.state.models import Technician
from forestall.workhours import TIME_PATTERN
from tests.api.conftest import Tenant

HOURS = {"mon": [["13:00", "17:00"], ["08:00", "12:00"]], "tue": [["08:00", "16:00"]], "sat": []}
BODY: dict[str, Any] = {
    "id": "tech-1",
    "name": "Ana Ruiz",
    "skills": ["pump", "valve"],
    "regions": ["plant-north", "north"],
    "timezone": "Europe/Madrid",
    "hours": HOURS,
}


def technician(technician_id: str, **fields: Any) -> dict[str, Any]:
    return {**BODY, "id": technician_id, **fields}


def create(client: httpx.Client, technician_id: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/technicians", json=technician(technician_id, **fields))
    assert response.status_code == 201, response.text
    return dict(response.json())


def stored(tenant: Tenant) -> dict[str, dict[str, Any]]:
    """Every technician row of the tenant, column by column, read straight from the state DB."""
    with tenant.db() as session:
        rows = session.scalars(select(Technician).where(Technician.tenant == tenant.name))
        columns = Technician.__table__.columns.keys()
        return {row.id: {name: getattr(row, name) for name in columns} for row in rows}


def test_create_read_replace_update_delete(tenant: Tenant) -> None:
    admin = tenant.client()
    created = admin.post("/v1/technicians", json=BODY)
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in ("id", "name", "skills", "regions", "timezone")} == {
        k: BODY[k] for k in ("id", "name", "skills", "regions", "timezone")
    }
    # The schedule is stored normalised: spans sorted, days without hours left out.
    normalised = {"mon": [["08:00", "12:00"], ["13:00", "17:00"]], "tue": [["08:00", "16:00"]]}
    assert body["hours"] == normalised
    assert body["active"] is True and body["created_at"].endswith("Z")
    assert stored(tenant)["tech-1"]["hours"] == normalised
    assert admin.get("/v1/technicians/tech-1").json() == body

    duplicate = admin.post("/v1/technicians", json={**BODY, "name": "Someone else"})
    assert duplicate.status_code == 409 and "already exists" in duplicate.json()["detail"]
    assert stored(tenant)["tech-1"]["name"] == "Ana Ruiz"

    off = admin.patch("/v1/technicians/tech-1", json={"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert {k: off.json()[k] for k in ("name", "skills", "hours")} == {
        "name": "Ana Ruiz",
        "skills": ["pump", "valve"],
        "hours": normalised,
    }
    moved = admin.patch("/v1/technicians/tech-1", json={"timezone": "America/Chicago", "regions": ["south"]})
    assert (moved.json()["timezone"], moved.json()["regions"]) == ("America/Chicago", ["south"])

    replaced = admin.put("/v1/technicians/tech-1", json={k: v for k, v in BODY.items() if k != "id"}).json()
    assert (replaced["active"], replaced["regions"], replaced["timezone"]) == (
        True,
        ["plant-north", "north"],
        "Europe/Madrid",
    )
    assert replaced["created_at"] == body["created_at"]
    with_id = admin.put("/v1/technicians/crew-2", json=technician("crew-2"))
    assert with_id.status_code == 422  # a PUT body names no id: the path does
    upserted = admin.put("/v1/technicians/crew-2", json={k: v for k, v in BODY.items() if k != "id"})
    assert upserted.status_code == 200 and upserted.json()["id"] == "crew-2"
    assert set(stored(tenant)) == {"tech-1", "crew-2"}

    assert admin.delete("/v1/technicians/tech-1").status_code == 204
    assert admin.get("/v1/technicians/tech-1").status_code == 404
    assert admin.delete("/v1/technicians/tech-1").status_code == 404
    assert admin.patch("/v1/technicians/tech-1", json={"active": True}).status_code == 404
    assert set(stored(tenant)) == {"crew-2"}


def test_duplicate_skills_are_kept_once(tenant: Tenant) -> None:
    body = create(tenant.client(), "t1", skills=["pump", "valve", "pump"], regions=["n", "n"])
    assert (body["skills"], body["regions"]) == (["pump", "valve"], ["n"])


def test_pages_walk_every_technician_once(tenant: Tenant) -> None:
    admin = tenant.client()
    ids = [f"tech-{i:02d}" for i in range(7)]
    for technician_id in reversed(ids):
        create(admin, technician_id)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = admin.get("/v1/technicians", params=params).json()
        seen += [t["id"] for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids and pages == 3
    assert admin.get("/v1/technicians", params={"cursor": "garbage!"}).status_code == 422
    assert admin.get("/v1/technicians", params={"limit": 0}).status_code == 422


def test_filters_match_whole_skills_and_regions(tenant: Tenant) -> None:
    admin = tenant.client()
    create(admin, "a", skills=["pump"], regions=["north"])
    create(admin, "b", skills=["pumps", "valve"], regions=["north", "plant_1"])
    create(admin, "c", skills=["valve"], regions=["south"], active=False)
    create(admin, "d", skills=['say "pump"', "p%mp"], regions=["plantx1"])

    def ids(**params: Any) -> list[str]:
        response = admin.get("/v1/technicians", params=params)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    assert ids(skill="pump") == ["a"]  # not "pumps", not a skill that quotes it
    assert ids(skill="valve") == ["b", "c"]
    assert ids(skill="p%mp") == ["d"] and ids(skill="p_mp") == []
    assert ids(region="north") == ["a", "b"]
    assert ids(region="plant_1") == ["b"]  # "_" is no wildcard: "plantx1" is not matched
    assert ids(active="false") == ["c"] and ids(active="true") == ["a", "b", "d"]
    assert ids(skill="valve", active="true") == ["b"]
    assert ids(skill="valve", region="south") == ["c"]
    assert ids(skill="crane") == []
    assert ids(skill="valve", limit=1) == ["b"]
    assert admin.get("/v1/technicians", params={"active": "maybe"}).status_code == 422


def _loc_and_message(response: httpx.Response) -> list[tuple[tuple[Any, ...], str]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/json")
    return [(tuple(e["loc"]), e["msg"]) for e in response.json()["detail"]]


# (change to a valid body, where the error is, words its message has)
REFUSED: list[tuple[dict[str, Any], tuple[Any, ...], str]] = [
    ({"skills": []}, ("body", "skills"), "at least one skill"),
    ({"regions": []}, ("body", "regions"), "at least one region"),
    ({"skills": [""]}, ("body", "skills", 0), "at least 1 character"),
    ({"timezone": "Mars/Olympus_Mons"}, ("body", "timezone"), "unknown timezone 'Mars/Olympus_Mons'"),
    ({"timezone": "../../etc/passwd"}, ("body", "timezone"), "unknown timezone"),
    (
        {"hours": {"mon": [["17:00", "08:00"]]}},
        ("body", "hours"),
        "mon: span 17:00–08:00 ends before it starts",
    ),
    ({"hours": {"mon": [["08:00", "08:00"]]}}, ("body", "hours"), "ends before it starts"),
    (
        {"hours": {"tue": [["08:00", "12:00"], ["11:00", "15:00"]]}},
        ("body", "hours"),
        "tue: spans overlap at 11:00",
    ),
    ({"hours": {"monday": [["08:00", "12:00"]]}}, ("body", "hours", "monday", "[key]"), "'mon', 'tue'"),
    ({"hours": {"mon": [["8:00", "12:00"]]}}, ("body", "hours"), "'8:00' is not a local time HH:MM"),
    ({"hours": {"mon": [["08:00", "24:30"]]}}, ("body", "hours"), "'24:30' is not a local time"),
    ({"hours": {"mon": [["08:00"]]}}, ("body", "hours", "mon", 0), "at least 2 items"),
    ({"hours": {"mon": [["08:00", "09:00", "10:00"]]}}, ("body", "hours", "mon", 0), "at most 2 items"),
    (
        {"hours": {"mon": [[f"{h:02d}:00", f"{h:02d}:30"] for h in range(9)]}},
        ("body", "hours", "mon"),
        "at most 8",
    ),
    ({"hours": {}}, ("body", "hours"), "no working hours"),
    ({"hours": {"mon": [], "sun": []}}, ("body", "hours"), "no working hours"),
    ({"name": ""}, ("body", "name"), "at least 1 character"),
    ({"colour": "red"}, ("body", "colour"), "Extra inputs are not permitted"),
]
MISSING = ["skills", "regions", "timezone", "hours", "name"]


@pytest.mark.parametrize(("change", "loc", "words"), REFUSED, ids=[str(c) for c, _, _ in REFUSED])
def test_bad_input_is_422_and_changes_nothing(
    tenant: Tenant, change: dict[str, Any], loc: tuple[Any, ...], words: str
) -> None:
    admin = tenant.client()
    create(admin, "kept")
    before = stored(tenant)
    new = admin.post("/v1/technicians", json=technician("new", **change))
    replace = admin.put(
        "/v1/technicians/kept", json={k: v for k, v in technician("x", **change).items() if k != "id"}
    )
    responses = [new, replace]
    if "colour" not in change:  # a patch is checked field by field like a whole body
        responses.append(admin.patch("/v1/technicians/kept", json=change))
    for response in responses:
        errors = _loc_and_message(response)
        assert any(where == loc and words in message for where, message in errors), errors
    assert stored(tenant) == before


@pytest.mark.parametrize("field", MISSING)
def test_a_technician_without_a_required_field_is_refused(tenant: Tenant, field: str) -> None:
    admin = tenant.client()
    body = {k: v for k, v in BODY.items() if k != field}
    assert (("body", field), "Field required") in _loc_and_message(admin.post("/v1/technicians", json=body))
    patch = admin.patch("/v1/technicians/tech-1", json={field: None})
    assert patch.status_code == 422 and f"{field} may not be null" in patch.text
    assert stored(tenant) == {}


def test_readers_read_and_only_admins_write(tenant: Tenant) -> None:
    create(tenant.client(), "tech-1")
    before = stored(tenant)
    for role in ("dispatcher", "fsm"):
        reader = tenant.client(role)
        assert [t["id"] for t in reader.get("/v1/technicians").json()["items"]] == ["tech-1"]
        assert reader.get("/v1/technicians/tech-1").json()["name"] == "Ana Ruiz"
    for role in ("dispatcher", "fsm", "grafana"):
        client = tenant.client(role)
        writes = [
            client.post("/v1/technicians", json=technician("tech-2")),
            client.put("/v1/technicians/tech-1", json={k: v for k, v in BODY.items() if k != "id"}),
            client.put("/v1/technicians/tech-2", json={k: v for k, v in BODY.items() if k != "id"}),
            client.patch("/v1/technicians/tech-1", json={"active": False}),
            client.patch("/v1/technicians/tech-1", json={"skills": []}),  # the role is checked first
            client.delete("/v1/technicians/tech-1"),
        ]
        for response in writes:
            assert response.status_code == 403, (role, response.text)
            assert role in response.json()["detail"]
    grafana = tenant.client("grafana")
    assert grafana.get("/v1/technicians").status_code == 403
    assert grafana.get("/v1/technicians/tech-1").status_code == 403
    assert tenant.client("anonymous").get("/v1/technicians").status_code == 401
    assert stored(tenant) == before


def test_a_key_never_sees_or_changes_another_tenants_technicians(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    mine, theirs = tenant.client(), other_tenant.client()
    create(mine, "tech-1")
    assert theirs.get("/v1/technicians").json()["items"] == []
    assert theirs.get("/v1/technicians", params={"skill": "pump"}).json()["items"] == []
    for method, body in [
        ("GET", None),
        ("PATCH", {"name": "Hijacked"}),
        ("DELETE", None),
    ]:
        response = theirs.request(method, "/v1/technicians/tech-1", json=body)
        assert response.status_code == 404, (method, response.text)
    # The same id is free in the other tenant, and stays separate.
    create(theirs, "tech-1", name="Bo Lind", skills=["crane"])
    assert mine.get("/v1/technicians/tech-1").json()["name"] == "Ana Ruiz"
    assert [t["id"] for t in mine.get("/v1/technicians", params={"skill": "crane"}).json()["items"]] == []
    assert stored(tenant)["tech-1"]["skills"] == ["pump", "valve"]
    assert stored(other_tenant)["tech-1"]["skills"] == ["crane"]


def test_the_openapi_shows_the_technician_routes(tenant: Tenant) -> None:
    spec = tenant.client("anonymous").get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths["/v1/technicians"]) == {"get", "post"}
    assert set(paths["/v1/technicians/{technician_id}"]) == {"get", "put", "patch", "delete"}
    assert {"401", "403", "409", "422"} <= set(paths["/v1/technicians"]["post"]["responses"])
    assert "404" in paths["/v1/technicians/{technician_id}"]["patch"]["responses"]
    listing = {p["name"] for p in paths["/v1/technicians"]["get"]["parameters"]}
    assert listing == {"limit", "cursor", "skill", "region", "active"}
    body = spec["components"]["schemas"]["TechnicianCreate"]
    assert set(body["required"]) == {"id", "name", "skills", "regions", "timezone", "hours"}
    assert body["properties"]["skills"]["minItems"] == 1 and body["properties"]["regions"]["minItems"] == 1
    hours = body["properties"]["hours"]
    assert hours["propertyNames"]["enum"] == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    span = hours["additionalProperties"]["items"]
    assert (span["minItems"], span["maxItems"], span["items"]["pattern"]) == (2, 2, TIME_PATTERN)
    patch = spec["components"]["schemas"]["TechnicianUpdate"]["properties"]
    assert "anyOf" not in patch["skills"]  # null is refused: every field is required
