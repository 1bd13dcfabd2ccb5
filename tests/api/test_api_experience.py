"""The Experience index through the API: a probability in percent whose contributions add up to
it, which says which model is in force and on how many outcomes; its threshold in percent (the
old ``threshold`` refused with a pointer to the new one); and bad outcomes refused without
touching any model."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import func, select

from forestall.state.models import CustomerRisk, Event, ExperienceState, OutboxEvent
from predictor.experience import DRIVERS, EXPERIENCE_VERSION, MIN_OUTCOMES, ExperienceModel, features, sigmoid
from tests.api.conftest import EVENT_NOW, Tenant

DAY = 86_400.0


def learnt_model(seed: int = 3) -> ExperienceModel:
    """A learner that has seen a world where outages drive every negative outcome."""
    rng = random.Random(seed)
    model = ExperienceModel()
    for day in range(60):
        rows = []
        for _ in range(30):
            ev = {d: rng.random() if rng.random() < 0.25 else 0.0 for d in DRIVERS}
            rows.append((features(ev, "standard"), rng.random() < sigmoid(-2.5 + 4.0 * ev["outages"])))
        model.learn_day(day * DAY, rows, 1)
    assert model.in_force == "learned"
    return model


def store(tenant: Tenant, model: ExperienceModel) -> None:
    with tenant.db.begin() as session:
        session.merge(
            ExperienceState(
                tenant=tenant.name,
                version=EXPERIENCE_VERSION,
                params=model.params().to_json(),
                learner=model.to_state(),
                updated_at=EVENT_NOW,
            )
        )


def outage(customer: str = "c1") -> dict[str, Any]:
    return {
        "customer_id": customer,
        "kind": "outage",
        "opened_at": EVENT_NOW - 7200,
        "resolved_at": EVENT_NOW,
    }


def test_the_index_says_which_model_is_in_force_and_on_how_many_outcomes(tenant: Tenant, seed: Any) -> None:
    admin = tenant.client()
    seed.customer(admin, "c1")
    risk = admin.get("/v1/customers/c1/risk").json()
    assert risk["model"] == {"in_force": "prior", "outcomes": 0, "customer_days": 0}
    assert risk["risk_index"] == pytest.approx(10.0) and risk["contributions"]["base_rate"] == pytest.approx(
        10.0
    )
    settings = admin.get("/v1/settings/risk-weights").json()
    assert settings["threshold_percent"] == 50.0 and "threshold" not in settings
    model = settings["model"]
    assert (model["in_force"], model["outcomes"], model["min_outcomes"]) == ("prior", 0, MIN_OUTCOMES)
    assert model["weights"] == model["prior"] == model["learnt"]
    assert model["weights"]["outages"] == pytest.approx(15.0 * 0.04)
    assert model["base_rates"] == pytest.approx(
        {"key": 10.0, "enterprise": 10.0, "standard": 10.0, "smb": 10.0}
    )
    assert model["brier"] is None and model["updated_at"] is None

    learner = learnt_model()
    store(tenant, learner)
    assert admin.post("/v1/incidents", json=outage()).status_code == 201  # refreshes c1's risk
    risk = admin.get("/v1/customers/c1/risk").json()
    assert risk["model"] == {"in_force": "learned", "outcomes": 60, "customer_days": 1800}
    assert sum(risk["contributions"].values()) == pytest.approx(risk["risk_index"], abs=0.01)
    assert risk["contributions"]["outages"] > risk["contributions"]["base_rate"]  # outages weigh now
    [listed] = admin.get("/v1/customers").json()["items"]
    assert listed["risk"]["model"]["in_force"] == "learned"
    model = admin.get("/v1/settings/risk-weights").json()["model"]
    assert (model["in_force"], model["outcomes"], model["customer_days"]) == ("learned", 60, 1800)
    assert (
        model["weights"] == model["learnt"] and model["weights"]["outages"] > 2.0 > model["prior"]["outages"]
    )
    assert model["brier"] < model["base_rate_brier"]
    assert model["updated_at"] == "2027-01-15T08:00:00.000Z"


def test_the_threshold_is_a_probability_and_the_old_one_is_refused(tenant: Tenant, seed: Any) -> None:
    admin = tenant.client()
    seed.customer(admin, "c1")
    old = admin.put("/v1/settings/risk-weights", json={"threshold": 60})
    assert old.status_code == 422 and "threshold_percent" in old.text and "probability" in old.text
    updated = admin.put(
        "/v1/settings/risk-weights", json={"weights": {"outages": 200.0}, "threshold_percent": 25}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["threshold_percent"] == 25 and updated.json()["weights"]["outages"] == 200.0
    assert updated.json()["model"]["prior"]["outages"] == pytest.approx(8.0)
    assert admin.put("/v1/settings/risk-weights", json={"threshold_percent": 101}).status_code == 422
    assert admin.post("/v1/incidents", json=outage()).status_code == 201
    risk = admin.get("/v1/customers/c1/risk").json()
    assert risk["risk_index"] > 25.0  # under the prior, one outage is worth 8 log-odds × its evidence
    with tenant.db() as session:
        [event] = session.scalars(
            select(OutboxEvent).where(
                OutboxEvent.tenant == tenant.name, OutboxEvent.type == "risk.threshold_crossed"
            )
        )
    assert (event.data["threshold"], event.data["direction"]) == (25.0, "up")
    assert event.data["model"]["in_force"] == "prior"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (
            "/v1/contract-events",
            {"customer_id": "ghost", "kind": "ended", "occurred_at": EVENT_NOW - 60},
            404,
        ),
        ("/v1/feedback", {"customer_id": "ghost", "kind": "nps", "score": 2, "at": EVENT_NOW - 60}, 404),
        ("/v1/incidents", {"customer_id": "ghost", "kind": "escalation", "opened_at": EVENT_NOW - 60}, 404),
        ("/v1/feedback", {"customer_id": "c1", "kind": "nps", "score": 11, "at": EVENT_NOW - 60}, 422),
        ("/v1/feedback", {"customer_id": "c1", "kind": "csat", "score": 0, "at": EVENT_NOW - 60}, 422),
        ("/v1/feedback", {"customer_id": "c1", "kind": "ces", "score": 7.5, "at": EVENT_NOW - 60}, 422),
        (
            "/v1/contract-events",
            {"customer_id": "c1", "kind": "ended", "occurred_at": EVENT_NOW + 3 * DAY},
            422,
        ),
        ("/v1/feedback", {"customer_id": "c1", "kind": "nps", "score": 0, "at": EVENT_NOW + 3 * DAY}, 422),
        ("/v1/incidents", {"customer_id": "c1", "kind": "escalation", "opened_at": EVENT_NOW + 3 * DAY}, 422),
    ],
)
def test_bad_outcomes_are_refused_and_change_no_model(
    tenant: Tenant, seed: Any, path: str, body: dict[str, Any], status: int
) -> None:
    admin = tenant.client()
    seed.customer(admin, "c1")
    store(tenant, learnt_model())
    assert admin.get("/v1/customers/c1/risk").status_code == 200

    def snapshot() -> tuple[Any, ...]:
        with tenant.db() as session:
            events = session.scalar(
                select(func.count()).select_from(Event).where(Event.tenant == tenant.name)
            )
            model = session.get(ExperienceState, tenant.name)
            risk = session.get(CustomerRisk, (tenant.name, "c1"))
            assert model is not None and risk is not None
            return events, model.learner, model.params, risk.risk_index, risk.at

    before = snapshot()
    response = admin.post(path, json=body)
    assert response.status_code == status, response.text
    assert snapshot() == before
