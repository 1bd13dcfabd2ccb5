"""Grafana alert rules that trigger visits, in code (grafana-foundation-sdk): on the failure
probability of an asset and on the Experience Risk Index of a customer. Each rule's InfluxQL
groups by the tags that become the alert's labels (``asset``, ``customer``, ``tenant``); the
webhook contact point posts the notifications to ``POST /v1/integrations/grafana``, where they
open or escalate a recommendation through the same planner as the models
(``predictor/alerts.py``).

The contact point's URL and token come from Grafana's environment: ``FORESTALL_ALERT_URL``
(``http://api:8000/v1/integrations/grafana``) and ``FORESTALL_ALERT_TOKEN``, an API key of role
``grafana`` of one tenant — ``forestall keys create --tenant T --role grafana`` — so one tenant's
Grafana cannot open visits for another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from grafana_foundation_sdk.builders import alerting
from grafana_foundation_sdk.builders import expr as expressions
from grafana_foundation_sdk.models import alerting as alerting_model
from grafana_foundation_sdk.models import dashboard as dashboard_model

from grafana.operations import GROUP as PLATFORM_GROUP
from grafana.operations import OPERATORS_CONTACT_POINT, OPERATORS_ROUTE, platform_rules
from grafana.queries import DATASOURCE, InfluxQuery, InfluxQueryBuilder, built_json

FOLDER_UID = "forestall"
GROUP = "forestall-visits"
CONTACT_POINT = "forestall-visits"
EXPRESSIONS = dashboard_model.DataSourceRef(type_val="__expr__", uid="__expr__")
WINDOW_S = 3600  # each evaluation looks at the last hour


@dataclass(frozen=True)
class AlertRule:
    uid: str
    title: str
    query: str  # InfluxQL: the newest value per series of the last hour
    threshold: float
    summary: str
    columns: tuple[str, ...]  # what the query returns besides time


FAILURE_PROBABILITY = AlertRule(
    "forestall-failure-probability",
    "Failure probability high",
    'SELECT last("failure_probability") AS "failure_probability" FROM "asset_health"'
    ' WHERE $timeFilter GROUP BY "tenant", "customer", "asset"',
    0.8,
    "{{ $labels.asset }} of {{ $labels.customer }}: failure within 48 h is likely",
    ("failure_probability",),
)
RISK_INDEX = AlertRule(
    "forestall-risk-index",
    "Experience index high",
    'SELECT last("risk_index") AS "risk_index" FROM "customer_risk"'
    ' WHERE $timeFilter GROUP BY "tenant", "customer"',
    70.0,  # the index is a probability (%): over two in three, above the webhook threshold (50)
    "{{ $labels.customer }}: a negative outcome within 30 days is over 70 % likely",
    ("risk_index",),
)
RULES = (FAILURE_PROBABILITY, RISK_INDEX)


def rule(spec: AlertRule) -> alerting.Rule:
    """A: the InfluxQL; B: each series' last value; C: above the threshold (the condition)."""
    last_hour = alerting_model.RelativeTimeRange(from_val=WINDOW_S, to=0)
    source = (
        alerting.Query("A")
        .datasource_uid(str(DATASOURCE.uid))
        .relative_time_range(last_hour)
        .model(InfluxQueryBuilder(InfluxQuery("A", spec.query, "time_series")))
    )
    reduce = (
        alerting.Query("B")
        .datasource_uid("__expr__")
        .relative_time_range(last_hour)
        .model(expressions.TypeReduce().ref_id("B").datasource(EXPRESSIONS).expression("A").reducer("last"))
    )
    above = expressions.ExprTypeThresholdConditionsEvaluator().type("gt").params([spec.threshold])
    threshold = (
        alerting.Query("C")
        .datasource_uid("__expr__")
        .relative_time_range(last_hour)
        .model(
            expressions.TypeThreshold()
            .ref_id("C")
            .datasource(EXPRESSIONS)
            .expression("B")
            .conditions([expressions.ExprTypeThresholdConditions().evaluator(above)])
        )
    )
    return (
        alerting.Rule(spec.title)
        .uid(spec.uid)
        .queries([source, reduce, threshold])
        .condition("C")
        .for_val("10m")
        # missing data or a failed query must never open a visit: a dead worker or store would
        # otherwise fire every asset's rule at once (the platform rules, operations.py, fire instead)
        .no_data_state("OK")
        .exec_err_state("OK")
        .labels({"forestall": "visit"})
        .annotations({"summary": spec.summary})
    )


def rule_group() -> alerting.RuleGroup:
    return alerting.RuleGroup(GROUP).folder_uid(FOLDER_UID).interval(60).rules([rule(spec) for spec in RULES])


def contact_point() -> alerting.ContactPoint:
    return (
        alerting.ContactPoint()
        .uid(CONTACT_POINT)
        .name(CONTACT_POINT)
        .type("webhook")
        .settings(
            {
                "url": "$FORESTALL_ALERT_URL",
                "httpMethod": "POST",
                "authorization_scheme": "Bearer",
                "authorization_credentials": "$FORESTALL_ALERT_TOKEN",
            }
        )
    )


def rule_group_model(org_id: int = 1) -> dict[str, Any]:
    """The rule group as Grafana's alerting provisioning API takes it (``PUT …/rule-groups/…``)."""
    group = built_json(rule_group())
    for item in group["rules"]:
        item.update({"folderUID": FOLDER_UID, "ruleGroup": GROUP, "orgID": org_id})
    return {"title": GROUP, "folderUid": FOLDER_UID, "interval": group["interval"], "rules": group["rules"]}


def contact_point_model(url: str, token: str | None) -> dict[str, Any]:
    """The webhook contact point for the API; ``token`` None leaves the one Grafana keeps."""
    point = built_json(contact_point())
    settings = {**point["settings"], "url": url}
    if token is None:
        del settings["authorization_credentials"]
    else:
        settings["authorization_credentials"] = token
    return {"uid": point["uid"], "name": point["name"], "type": point["type"], "settings": settings}


# A route under the organisation's policy tree: only this module's rules (label forestall=visit)
# go to the API; every other alert keeps going where the organisation sends it.
ROUTE: dict[str, Any] = {
    "receiver": CONTACT_POINT,
    "object_matchers": [["forestall", "=", "visit"]],
    "group_by": ["alertname", "tenant", "customer", "asset"],
    "repeat_interval": "4h",
}
DEFAULT_RECEIVER = "grafana-default-email"  # the contact point every Grafana starts with


def provisioning() -> dict[str, Any]:
    """Grafana's alerting provisioning file: the visit rules and the platform rules
    (``operations.py``), each group with its contact point, and the policy tree whose routes send
    the visit rules' alerts (label ``forestall=visit``) to the API and the platform rules'
    (``forestall=platform``) to the operators (a provisioned tree replaces the organisation's: its
    root keeps Grafana's default)."""
    group = built_json(rule_group())
    rules = []
    for item in group["rules"]:
        rules.append(
            {
                "uid": item["uid"],
                "title": item["title"],
                "condition": item["condition"],
                "data": item["data"],
                "for": item["for"],
                "noDataState": item["noDataState"],
                "execErrState": item["execErrState"],
                "labels": item["labels"],
                "annotations": item["annotations"],
            }
        )
    point = built_json(contact_point())
    return {
        "apiVersion": 1,
        "groups": [
            {"orgId": 1, "name": GROUP, "folder": "Forestall", "interval": "1m", "rules": rules},
            {
                "orgId": 1,
                "name": PLATFORM_GROUP,
                "folder": "Forestall",
                "interval": "1m",
                "rules": platform_rules(),
            },
        ],
        "contactPoints": [
            {
                "orgId": 1,
                "name": CONTACT_POINT,
                "receivers": [{"uid": point["uid"], "type": point["type"], "settings": point["settings"]}],
            },
            OPERATORS_CONTACT_POINT,
        ],
        "policies": [{"orgId": 1, "receiver": DEFAULT_RECEIVER, "routes": [ROUTE, OPERATORS_ROUTE]}],
    }
