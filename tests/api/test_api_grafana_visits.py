"""Grafana alerts open visits: a webhook-contact-point notification in the format Grafana
documents (alertmanager-style body, labels from the rule's series) posted with a tenant's
``grafana`` key, read by the predictor from the events table, goes through the same planner as
the models — a recommendation the dispatcher then sees over ``/v1``, deduplicated with theirs."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from forestall.contract import Sample
from forestall.state.models import Asset, Event
from ingest.store.embedded import EmbeddedStore
from predictor.engine import Predictor
from predictor.service import PredictorService
from tests.api.conftest import EVENT_NOW, Tenant


def notification(status: str, labels: dict[str, str], starts: str = "2027-01-15T07:55:00Z") -> dict[str, Any]:
    """A body as Grafana's webhook contact point sends it (grafana.com/docs, "Webhook notifier")."""
    alert = {
        "status": status,
        "labels": {"alertname": "Failure probability high", "forestall": "visit", **labels},
        "annotations": {"summary": "failure within 48 h is likely"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2027-01-15T09:00:00Z",
        "generatorURL": "http://grafana:3000/alerting/grafana/forestall-failure-probability/view",
        "fingerprint": "3f4a9c1d2e",
        "silenceURL": "http://grafana:3000/alerting/silence/new",
        "dashboardURL": "",
        "panelURL": "",
        "values": {"B": 0.93, "C": 1},
        "valueString": "[ var='B' labels={asset=pump-7} value=0.93 ], [ var='C' value=1 ]",
    }
    return {
        "receiver": "forestall-visits",
        "status": status,
        "orgId": 2,
        "alerts": [alert],
        "groupLabels": {"alertname": "Failure probability high"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://grafana:3000/",
        "version": "1",
        "groupKey": '{}/{forestall="visit"}:{alertname="Failure probability high"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1] Failure probability high",
        "state": "alerting",
        "message": "**Firing**",
    }


def test_a_grafana_alert_opens_a_visit_once_and_a_resolved_one_is_recorded(
    tenant: Tenant, seed: Any, tmp_path: Path
) -> None:
    admin = tenant.client()
    seed.customer(admin, "c1")
    seed.asset(admin, "pump-7", "c1")
    seed.asset(admin, "pump-8", "c1")
    service = PredictorService(Predictor(), EmbeddedStore(tmp_path / "ts.sqlite"))
    rng = random.Random(3)

    def feed(start: float, hours: int) -> None:
        with tenant.db.begin() as session:
            assets = session.scalars(select(Asset).where(Asset.tenant == tenant.name)).all()
            batches = [
                (
                    asset,
                    [
                        Sample(
                            start + i * 600.0,
                            {"temp_c": 60 + rng.gauss(0, 0.5), "flow_m3h": 30 + rng.gauss(0, 1)},
                        )
                        for i in range(hours * 6)
                    ],
                )
                for asset in assets
            ]
            service.process(session, batches, {tenant.name: start + hours * 3600.0})

    feed(EVENT_NOW - 48 * 3600.0, 48)  # two healthy days: the models see no visit
    assert admin.get("/v1/recommendations").json()["items"] == []

    url = f"{tenant.url}/v1/integrations/grafana"
    grafana = httpx.Client(headers={"authorization": f"Bearer {tenant.keys['grafana']}"})
    for _ in range(2):  # Grafana repeats a firing alert: one visit all the same
        sent = grafana.post(url, json=notification("firing", {"asset": "pump-7", "customer": "c1"}))
        assert sent.status_code == 202, sent.text
        feed(EVENT_NOW, 1)
    [rec] = admin.get("/v1/recommendations").json()["items"]
    assert (rec["asset_ids"], rec["source"], rec["status"]) == (["pump-7"], "grafana", "open")
    assert rec["priority"] in ("P1", "P2") and rec["reason"]["alerts"] == ["Failure probability high"]

    resolved = grafana.post(url, json=notification("resolved", {"asset": "pump-7", "customer": "c1"}))
    assert resolved.status_code == 202
    feed(EVENT_NOW + 3600.0, 1)
    assert service.predictor.alerts.active((tenant.name, "pump-7"), EVENT_NOW + 7200.0) == ()
    with tenant.db() as session:
        recorded = session.scalars(
            select(Event).where(Event.tenant == tenant.name, Event.kind == "grafana_alert").order_by(Event.id)
        ).all()
    assert [(e.asset_id, e.data["status"]) for e in recorded] == [("pump-7", "firing")] * 2 + [
        ("pump-7", "resolved")
    ]
    grafana.close()
