"""Hostile input is a 422, never a 500 (issue #13), on every operation of the OpenAPI schema and
on both state DBs: NUL (PostgreSQL refuses it in text) in a path id, a query value or a body
string, lone surrogates and bytes that are not UTF-8, NaN / Infinity, ids that break the
contract's pattern. Each reply is FastAPI's list of errors naming where the bad value sits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.app import create_app
from forestall.settings import Settings

SPEC = create_app(Settings(), deliver_webhooks=False).openapi()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in SPEC["paths"].items()
    if path.startswith("/v1/")
    for method, operation in item.items()
]
WITH_BODY = [(m, p, op) for m, p, op in OPERATIONS if "requestBody" in op]
BAD_IDS = ["a%00b", "a%20b", "x" * 65, "%C3%A9t%C3%A9"]


def _params(operation: dict[str, Any], where: str) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", []) if p["in"] == where]


def _is_integer(param: dict[str, Any]) -> bool:
    return param["schema"].get("type") == "integer"


def _url(path: str, operation: dict[str, Any], **values: str) -> str:
    """``path`` with each path parameter given in ``values``, else a well-formed id ("x" or 1)."""
    for param in _params(operation, "path"):
        default = "1" if _is_integer(param) else "x"
        path = path.replace("{" + param["name"] + "}", values.get(param["name"], default))
    return path


def _name(case: tuple[str, str, dict[str, Any]]) -> str:
    return f"{case[0]} {case[1]}"


def assert_422_at(response: httpx.Response, *loc: str | int) -> list[dict[str, Any]]:
    """A 422 whose ``detail`` list has an error at ``loc`` (or below it)."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    assert any(tuple(error["loc"][: len(loc)]) == loc for error in detail), detail
    return list(detail)


def test_the_operations_are_all_there() -> None:
    # The parametrised tests below cover what the schema lists; a schema that lost its
    # operations would make them pass vacuously.
    assert len(OPERATIONS) >= 45 and len(WITH_BODY) >= 18
    assert sum(1 for _, _, op in OPERATIONS if _params(op, "path")) >= 26


@pytest.mark.parametrize(
    "case", [c for c in OPERATIONS if any(not _is_integer(p) for p in _params(c[2], "path"))], ids=_name
)
def test_a_path_id_that_breaks_the_id_pattern_is_422(
    tenant: Any, case: tuple[str, str, dict[str, Any]]
) -> None:
    method, path, operation = case
    admin = tenant.client()
    for param in (p for p in _params(operation, "path") if not _is_integer(p)):
        for bad in BAD_IDS:
            response = admin.request(method, _url(path, operation, **{param["name"]: bad}), json={})
            assert_422_at(response, "path", param["name"])


@pytest.mark.parametrize("case", [c for c in OPERATIONS if _params(c[2], "query")], ids=_name)
def test_nul_in_a_query_value_is_422(tenant: Any, case: tuple[str, str, dict[str, Any]]) -> None:
    method, path, operation = case
    admin = tenant.client()
    for param in _params(operation, "query"):
        response = admin.request(method, _url(path, operation), params={param["name"]: "a\x00b"}, json={})
        assert_422_at(response, "query", param["name"])


BAD_BODIES = {
    "NUL in a value": (b'{"name": "a\\u0000b"}', ("body", "name")),
    "NUL in a key": (b'{"a\\u0000b": 1}', ("body",)),
    "NUL deep inside": (b'{"labels": [{"x": ["ok", "\\u0000"]}]}', ("body", "labels", 0, "x", 1)),
    "lone surrogate": (b'{"name": "\\ud800"}', ("body",)),
    "not UTF-8": (b'{"name": "\xff\xfe"}', ("body",)),
    "NaN": (b'{"score": NaN}', ("body",)),
    "Infinity": (b'{"score": Infinity}', ("body",)),
    "-Infinity": (b'{"score": -Infinity}', ("body",)),
    "beyond a double": (b'{"score": 1e999}', ("body",)),
}


@pytest.mark.parametrize("case", WITH_BODY, ids=_name)
def test_a_body_no_database_can_hold_is_422(tenant: Any, case: tuple[str, str, dict[str, Any]]) -> None:
    method, path, operation = case
    admin = tenant.client()
    headers = {"content-type": "application/json"}
    for what, (body, loc) in BAD_BODIES.items():
        response = admin.request(method, _url(path, operation), content=body, headers=headers)
        assert response.status_code == 422, (what, response.text)
        assert_422_at(response, *loc)


def test_refused_text_is_not_stored(tenant: Any, seed: Any) -> None:
    admin = tenant.client()
    body = {"id": "c1", "name": "a\x00b", "segment": "standard", "sla_tier": "gold"}
    detail = assert_422_at(admin.post("/v1/customers", json=body), "body", "name")
    assert detail[0]["type"] == "string_unstorable" and detail[0]["input"] == "a\\x00b"
    surrogate = b'{"name": "\\ud800", "segment": "standard", "sla_tier": "gold"}'
    put = admin.put("/v1/customers/c1", content=surrogate, headers={"content-type": "application/json"})
    assert_422_at(put, "body")
    assert admin.get("/v1/customers").json()["items"] == []
    seed.customer(admin, "c1")
    assert_422_at(admin.patch("/v1/customers/c1", json={"name": "x\x00"}), "body", "name")
    assert admin.get("/v1/customers/c1").json()["name"] == "Customer c1"


def test_nan_in_a_body_is_422_with_a_reply_that_parses(tenant: Any, seed: Any) -> None:
    seed.customer(tenant.client(), "c1")
    raw = b'{"customer_id":"c1","kind":"nps","score":NaN,"at":"2026-01-01T00:00:00Z"}'
    response = tenant.client("fsm").post(
        "/v1/feedback", content=raw, headers={"content-type": "application/json"}
    )
    (error,) = assert_422_at(response, "body", raw.index(b"NaN"))
    assert error["type"] == "json_invalid"
    assert tenant.client("fsm").get("/v1/feedback").json()["items"] == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [("text/plain", b"\xff\xfe\x00"), ("application/octet-stream", b"\x00"), ("application/json", b"")],
)
def test_a_body_that_is_not_json_is_422(tenant: Any, content_type: str, body: bytes) -> None:
    response = tenant.client().post("/v1/customers", content=body, headers={"content-type": content_type})
    assert_422_at(response, "body")


def test_grafana_labels_with_nul_are_422(tenant: Any) -> None:
    from tests.api.conftest import GRAFANA_TOKEN

    grafana = httpx.Client(base_url=tenant.url, headers={"authorization": f"Bearer {GRAFANA_TOKEN}"})
    with grafana:
        alert = {"status": "firing", "labels": {"asset": "p\x001"}, "annotations": {"a\x00": "b"}}
        response = grafana.post(f"/v1/integrations/grafana?tenant={tenant.name}", json={"alerts": [alert]})
        detail = assert_422_at(response, "body", "alerts", 0)
        assert {tuple(e["loc"]) for e in detail} == {
            ("body", "alerts", 0, "labels", "asset"),
            ("body", "alerts", 0, "annotations"),
        }
        assert_422_at(grafana.post("/v1/integrations/grafana?tenant=t%00", json={}), "query", "tenant")
