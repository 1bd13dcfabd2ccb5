"""Webhook subscriptions and delivery end to end: real receivers verify every signature."""

from __future__ import annotations

import json
from typing import Any

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the root conftest's receiver secret


def _subscribe(client: Any, url: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/webhooks", json={"url": url, "secret": WEBHOOK_SECRET, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _deliveries(client: Any, hook_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/webhooks/{hook_id}/deliveries")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_subscription_crud(admin: Any) -> None:
    created = admin.post(
        "/v1/webhooks", json={"url": "https://127.0.0.1:9/hooks", "events": ["visit.completed"]}
    )
    assert created.status_code == 201
    hook = created.json()
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 30
    assert hook["events"] == ["visit.completed"] and hook["active"] is True
    fetched = admin.get(f"/v1/webhooks/{hook['id']}").json()
    assert "secret" not in fetched and fetched["url"] == "https://127.0.0.1:9/hooks"
    assert "secret" not in admin.get("/v1/webhooks").json()["items"][0]

    patched = admin.patch(f"/v1/webhooks/{hook['id']}", json={"events": [], "active": False}).json()
    assert (patched["events"], patched["active"]) == ([], False)
    assert admin.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    assert admin.get(f"/v1/webhooks/{hook['id']}").status_code == 404


def test_subscription_validation(admin: Any) -> None:
    unknown = admin.post("/v1/webhooks", json={"url": "http://x.example/h", "events": ["visit.exploded"]})
    assert unknown.status_code == 422 and "visit.exploded" in unknown.text
    assert admin.post("/v1/webhooks", json={"url": "not a url"}).status_code == 422
    assert admin.post("/v1/webhooks", json={"url": "ftp://x.example/h"}).status_code == 422
    bad_secret = admin.post("/v1/webhooks", json={"url": "http://x.example/h", "secret": "hunter2"})
    assert bad_secret.status_code == 422 and "whsec_" in bad_secret.text


def test_lifecycle_webhooks_arrive_signed(tenant: Any, seed: Any, webhook_receiver: Any, wait: Any) -> None:
    admin = tenant.client("admin")
    _subscribe(admin, webhook_receiver.url, events=["visit.recommended", "visit.updated", "visit.cancelled"])
    seed.customer(admin, "c1")
    seed.asset(admin, "pump-1", "c1")
    rec = seed.recommendation(admin, ["pump-1"])
    admin.post(f"/v1/recommendations/{rec['id']}/accept")
    admin.post(f"/v1/recommendations/{rec['id']}/dismiss", json={"reason": "duplicate ticket"})

    wait(lambda: len(webhook_receiver.verified) >= 3, what="three verified webhooks")
    assert webhook_receiver.rejected == 0
    by_type = {p["type"]: p for p in webhook_receiver.verified}
    assert set(by_type) == {"visit.recommended", "visit.updated", "visit.cancelled"}
    assert by_type["visit.recommended"]["data"] == rec
    assert by_type["visit.recommended"]["timestamp"] == "2027-01-15T08:00:00.000Z"  # event time, not wall
    assert by_type["visit.updated"]["data"]["status"] == "accepted"
    assert by_type["visit.cancelled"]["data"]["reason"] == "duplicate ticket"
    assert len(set(webhook_receiver.ids)) == 3


def test_event_filter_and_tenant_scope(
    tenant: Any, other_tenant: Any, seed: Any, scripted_receiver: Any, wait: Any
) -> None:
    completed_only = scripted_receiver(WEBHOOK_SECRET)
    everything = scripted_receiver(WEBHOOK_SECRET)
    theirs = scripted_receiver(WEBHOOK_SECRET)
    admin = tenant.client("admin")
    _subscribe(admin, completed_only.url, events=["visit.completed"])
    _subscribe(admin, everything.url)
    _subscribe(other_tenant.client("admin"), theirs.url)
    seed.customer(admin, "c1")
    seed.asset(admin, "a1", "c1")
    rec = seed.recommendation(admin, ["a1"])
    admin.post(f"/v1/recommendations/{rec['id']}/outcome", json={"fault_found": True})

    wait(lambda: len(everything.payloads()) >= 2 and completed_only.payloads(), what="deliveries")
    assert [p["type"] for p in completed_only.payloads()] == ["visit.completed"]
    assert completed_only.payloads()[0]["data"]["outcome"]["fault_found"] is True
    assert sorted(p["type"] for p in everything.payloads()) == ["visit.completed", "visit.recommended"]
    assert all(r.verified for r in everything.requests + completed_only.requests)
    assert theirs.payloads() == []


def test_failed_deliveries_are_retried_with_the_same_id_and_fresh_signatures(
    tenant: Any, seed: Any, scripted_receiver: Any, wait: Any
) -> None:
    receiver = scripted_receiver(WEBHOOK_SECRET, script=[503, 500])
    admin = tenant.client("admin")
    hook = _subscribe(admin, receiver.url)
    seed.customer(admin, "c1")
    seed.asset(admin, "a1", "c1")
    seed.recommendation(admin, ["a1"])

    wait(lambda: _deliveries(admin, hook["id"])[0]["status"] == "delivered", what="delivery after retries")
    assert [r.status for r in receiver.requests] == [503, 500, 204]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    assert all(r.verified for r in receiver.requests)  # each attempt signed afresh, within tolerance
    assert len({r.body for r in receiver.requests}) == 1
    delivery = _deliveries(admin, hook["id"])[0]
    assert delivery["attempts"] == 3 and delivery["last_status_code"] == 204
    assert [a["status_code"] for a in delivery["attempt_log"]] == [503, 500, 204]
    assert delivery["attempt_log"][0]["error"].startswith("HTTP 503")
    assert all(a["duration_ms"] >= 0 for a in delivery["attempt_log"])
    assert delivery["message_id"] == receiver.requests[0].headers["webhook-id"]
    assert delivery["event_type"] == "visit.recommended" and delivery["next_attempt_at"] is None


def test_dead_letter_and_replay(tenant: Any, seed: Any, scripted_receiver: Any, wait: Any) -> None:
    receiver = scripted_receiver(WEBHOOK_SECRET, script=[500, 500, 410], default=204)
    admin = tenant.client("admin")
    hook = _subscribe(admin, receiver.url)
    seed.customer(admin, "c1")
    seed.asset(admin, "a1", "c1")
    seed.recommendation(admin, ["a1"])

    # webhook_max_attempts is 3 in the test settings.
    wait(lambda: _deliveries(admin, hook["id"])[0]["status"] == "dead", what="dead letter")
    dead = _deliveries(admin, hook["id"])[0]
    assert dead["attempts"] == 3 and [a["status_code"] for a in dead["attempt_log"]] == [500, 500, 410]
    assert admin.get(f"/v1/webhooks/{hook['id']}/deliveries", params={"status": "dead"}).json()["items"] == [
        dead
    ]

    replayed = admin.post(f"/v1/webhooks/{hook['id']}/deliveries/{dead['id']}/replay")
    assert replayed.status_code == 202 and replayed.json()["status"] == "pending"
    wait(lambda: _deliveries(admin, hook["id"])[0]["status"] == "delivered", what="replayed delivery")
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
    final = admin.get(f"/v1/webhooks/{hook['id']}/deliveries/{dead['id']}").json()
    assert [a["status_code"] for a in final["attempt_log"]] == [500, 500, 410, 204]
    assert json.loads(receiver.requests[-1].body)["type"] == "visit.recommended"
    assert admin.post(f"/v1/webhooks/{hook['id']}/deliveries/999999999/replay").status_code == 404


def test_unreachable_receiver_records_transport_errors(tenant: Any, seed: Any, wait: Any) -> None:
    from forestall.broker import free_port

    admin = tenant.client("admin")
    hook = _subscribe(admin, f"http://127.0.0.1:{free_port()}/nobody-listens")
    seed.customer(admin, "c1")
    seed.asset(admin, "a1", "c1")
    seed.recommendation(admin, ["a1"])
    wait(lambda: _deliveries(admin, hook["id"])[0]["status"] == "dead", what="dead letter")
    log = _deliveries(admin, hook["id"])[0]["attempt_log"]
    assert [a["status_code"] for a in log] == [None, None, None]
    assert all("Connect" in a["error"] for a in log)
