"""Risk weights per tenant, ingest rejections, and the schema staying in step with its sources."""

from __future__ import annotations

from typing import Any

from forestall.state.models import Rejection


def test_risk_weights(tenant: Any, seed: Any) -> None:
    from predictor.experience import DEFAULT_THRESHOLD_PERCENT
    from predictor.risk import DEFAULT_WEIGHTS

    admin = tenant.client("admin")
    current = admin.get("/v1/settings/risk-weights").json()
    assert (current["weights"], current["threshold_percent"], current["defaults"]) == (
        DEFAULT_WEIGHTS,
        DEFAULT_THRESHOLD_PERCENT,
        DEFAULT_WEIGHTS,
    )

    seed.customer(admin, "c1")
    admin.post(
        "/v1/incidents", json={"customer_id": "c1", "kind": "outage", "opened_at": "2027-01-15T06:00:00Z"}
    )
    assert admin.get("/v1/customers/c1/risk").json()["contributions"]["outages"] > 0

    body = {"weights": {"outages": 0.0}, "threshold_percent": 40}
    updated = admin.put("/v1/settings/risk-weights", json=body)
    assert updated.status_code == 200
    assert updated.json()["weights"] == {**DEFAULT_WEIGHTS, "outages": 0.0}
    assert updated.json()["threshold_percent"] == 40
    # Every customer's risk is recomputed with the new prior at once (the prior is in force).
    assert admin.get("/v1/customers/c1/risk").json()["contributions"]["outages"] == 0

    unknown = admin.put("/v1/settings/risk-weights", json={"weights": {"moon_phase": 1.0}})
    assert unknown.status_code == 422 and "moon_phase" in unknown.text
    assert admin.put("/v1/settings/risk-weights", json={"weights": {"outages": -1}}).status_code == 422
    assert admin.put("/v1/settings/risk-weights", json={"threshold_percent": 101}).status_code == 422


def test_rejections_are_listed_per_tenant(tenant: Any, other_tenant: Any) -> None:
    with tenant.db.begin() as session:
        for i, reason in enumerate(["schema", "malformed_json", "schema"]):
            session.add(
                Rejection(
                    tenant=tenant.name,
                    asset_id="pump-1",
                    topic=f"forestall/v1/{tenant.name}/pump-1/telemetry",
                    reason=reason,
                    detail=f"detail {i}",
                    received_at=1_800_000_000.0 + i,
                    excerpt="{",
                )
            )
        session.add(
            Rejection(
                tenant=other_tenant.name,
                asset_id="p",
                topic="t",
                reason="schema",
                detail="theirs",
                received_at=1.0,
                excerpt="",
            )
        )
    admin = tenant.client("admin")
    items = admin.get("/v1/ingest/rejections").json()["items"]
    assert [r["detail"] for r in items] == ["detail 2", "detail 1", "detail 0"]
    assert [
        r["detail"] for r in admin.get("/v1/ingest/rejections", params={"reason": "schema"}).json()["items"]
    ] == ["detail 2", "detail 0"]
    assert items[0]["received_at"] == "2027-01-15T08:00:02.000Z"


def test_schema_literals_match_their_sources() -> None:
    from forestall.vocab import SEGMENTS, SLA, SLA_TIERS
    from predictor.risk import SEGMENT_FACTOR, TIER_FACTOR

    assert set(SEGMENTS) == set(SEGMENT_FACTOR)
    assert set(SLA_TIERS) == set(TIER_FACTOR) == set(SLA)


def test_docstring_examples() -> None:
    import doctest

    import api.crud.lifecycle
    import api.pagination
    import api.webhooks.policy
    import api.webhooks.signing

    for module in (api.pagination, api.webhooks.policy, api.webhooks.signing, api.crud.lifecycle):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
