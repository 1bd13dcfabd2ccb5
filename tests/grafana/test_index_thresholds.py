"""The Experience index's thresholds in Grafana are those of the index: a probability in percent,
orange from the tenant threshold's default, red from the customer-risk alert's."""

from __future__ import annotations

from grafana.alerts import RISK_INDEX
from grafana.dashboards import INDEX_ALERT, INDEX_COLUMN, INDEX_WARN, dashboard_json, dashboards
from predictor.experience import DEFAULT_THRESHOLD_PERCENT


def test_the_dashboards_and_the_alert_share_the_index_thresholds() -> None:
    assert INDEX_WARN == DEFAULT_THRESHOLD_PERCENT and RISK_INDEX.threshold == INDEX_ALERT
    assert "70 %" in RISK_INDEX.summary
    panels = {p["title"]: p for p in dashboard_json(dashboards()["experience"])["panels"]}
    ranking = panels["Experience index ranking (newest per customer)"]
    [override] = [o for o in ranking["fieldConfig"]["overrides"] if o["matcher"]["options"] == "risk_index"]
    props = {p["id"]: p["value"] for p in override["properties"]}
    assert props["unit"] == "percent" and props["displayName"] == INDEX_COLUMN
    assert [s["value"] for s in props["thresholds"]["steps"]] == [None, INDEX_WARN, INDEX_ALERT]
    over_time = panels["Experience index over time: negative outcome within 30 days"]["fieldConfig"][
        "defaults"
    ]
    assert over_time["unit"] == "percent"
    assert [s["value"] for s in over_time["thresholds"]["steps"]] == [None, INDEX_WARN, INDEX_ALERT]
    assert over_time["custom"]["thresholdsStyle"] == {"mode": "dashed"}
