"""The platform watching itself: the "Operations" dashboard and the platform alert rules, on the
worker's and the API's Prometheus metrics that VictoriaMetrics scrapes (``monitoring/scrape.yml``,
a Prometheus-type datasource) and on the liveness points the worker writes to InfluxDB.

These rules watch the pipeline, in wall-clock time, and go to a human (the ``forestall-operators``
contact point: e-mail to ``$FORESTALL_OPS_EMAIL``), never to the API. Unlike the visit rules
(``alerts.py``), missing data and query errors make them fire: a dead worker, scraper or store is
what they are for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from grafana_foundation_sdk.builders import alerting, timeseries
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import expr as expressions
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import alerting as alerting_model
from grafana_foundation_sdk.models import dashboard as model

from grafana.panels import TAG, other_dashboards
from grafana.queries import DATASOURCE, InfluxQuery, InfluxQueryBuilder, built_json

METRICS = model.DataSourceRef(type_val="prometheus", uid="forestall-victoriametrics")
EXPRESSIONS = model.DataSourceRef(type_val="__expr__", uid="__expr__")
UID = "forestall-operations"
GROUP = "forestall-platform"
CONTACT_POINT = "forestall-operators"
LABEL = {"forestall": "platform"}


class PromQuery(cogvariants.Dataquery):
    """A PromQL target of Grafana's Prometheus datasource (VictoriaMetrics answers PromQL)."""

    def __init__(self, ref_id: str, expr: str, legend: str = "", instant: bool = False) -> None:
        self.ref_id, self.expr, self.legend, self.instant = ref_id, expr, legend, instant

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": METRICS.to_json(),
            "expr": self.expr,
            "instant": self.instant,
            "range": not self.instant,
        }
        if self.legend:
            out["legendFormat"] = self.legend
        return out


class PromQueryBuilder(cogbuilder.Builder[PromQuery]):
    def __init__(self, query: PromQuery) -> None:
        self._query = query

    def build(self) -> PromQuery:
        return self._query


# -- the dashboard ---------------------------------------------------------------------------------

PANELS: dict[str, tuple[str, str, str]] = {  # title → (PromQL, legend, unit)
    "Samples stored per second": ("sum(rate(forestall_ingest_samples_total[5m]))", "samples/s", "short"),
    "Ingest lag, 95th percentile per tenant (sample time to stored)": (
        "histogram_quantile(0.95, sum by (le, tenant) (rate(forestall_ingest_lag_seconds_bucket[5m])))",
        "{{tenant}}",
        "s",
    ),
    "Messages waiting in the worker's inbox": (
        'sum(forestall_ingest_queue_messages{job="forestall-worker"})',
        "waiting",
        "short",
    ),
    "Rejections per second, by reason": (
        "sum by (reason) (rate(forestall_ingest_rejected_total[5m]))",
        "{{reason}}",
        "short",
    ),
    "Webhook deliveries: outbox (pending) and dead letters": (
        'sum by (status) (forestall_webhook_deliveries{status=~"pending|dead"})',
        "{{status}}",
        "short",
    ),
    "Devices disabled at the broker (last hour)": (
        "sum by (outcome) (increase(forestall_devices_disabled_total[1h]))",
        "{{outcome}}",
        "short",
    ),
    "Processes up (1) or not scraped (0)": ('up{job=~"forestall-.*"}', "{{job}}", "short"),
}
# which model version wrote the health points (InfluxDB: the tag every health point carries)
MODEL_VERSIONS = (
    'SELECT count("failure_probability") AS "health_points" FROM "asset_health"'
    ' WHERE $timeFilter GROUP BY time($__interval), "model_version" fill(none)'
)


def dashboard() -> db.Dashboard:
    out = (
        db.Dashboard("Forestall · Operations")
        .uid(UID)
        .tags([TAG])
        .time("now-6h", "now")  # wall-clock data, unlike the event time of the others
        .refresh("1m")
        .readonly()
        .link(other_dashboards())
    )
    for title, (expr, legend, unit) in PANELS.items():
        target = PromQueryBuilder(PromQuery("A", expr, legend))
        out = out.with_panel(
            timeseries.Panel()
            .title(title)
            .datasource(METRICS)
            .with_target(target)
            .unit(unit)
            .height(8)
            .span(12)
        )
    models = InfluxQueryBuilder(InfluxQuery("A", MODEL_VERSIONS, "time_series", "$tag_model_version"))
    return out.with_panel(
        timeseries.Panel()
        .title("Health points per model version")
        .datasource(DATASOURCE)
        .with_target(models)
        .height(8)
        .span(12)
    )


# -- the platform rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformRule:
    uid: str
    title: str
    query: str  # PromQL on VictoriaMetrics, or InfluxQL where ``influx``
    evaluator: Literal["gt", "lt"]  # against ``threshold``, on each series' last value
    threshold: float
    wait: str  # how long the condition must hold before it fires
    summary: str
    influx: bool = False


WORKER_DOWN = PlatformRule(
    "forestall-worker-down",
    "Worker down",
    'up{job="forestall-worker"}',
    "lt",
    1,
    "2m",
    "The worker's /metrics cannot be scraped: ingest and predictions have stopped",
)
WORKER_LAGGING = PlatformRule(
    "forestall-worker-lagging",
    "Worker lagging",
    'sum(forestall_ingest_queue_messages{job="forestall-worker"})',
    "gt",
    5000,
    "10m",
    "More than 5,000 messages wait in the worker's inbox: it cannot keep up",
)
TENANT_SILENT = PlatformRule(
    "forestall-tenant-silent",
    "No data from a tenant",
    "sum by (tenant) (increase(forestall_ingest_lag_seconds_count[30m]))",
    "lt",
    1,
    "5m",
    "{{ $labels.tenant }}: no telemetry stored for 30 minutes",
)
REJECTION_SPIKE = PlatformRule(
    "forestall-rejection-spike",
    "Rejection spike",
    "sum(rate(forestall_ingest_rejected_total[5m]))",
    "gt",
    1,
    "5m",
    "More than one message or sample a second rejected (Operations dashboard: by reason)",
)
DLQ_GROWING = PlatformRule(
    "forestall-dlq-growing",
    "Webhook dead letters growing",
    'sum(delta(forestall_webhook_deliveries{status="dead"}[1h]))',
    "gt",
    0,
    "0s",
    "Webhook deliveries went dead in the last hour: an FSM endpoint refuses them (replay once fixed)",
)
DEVICES_OFFLINE = PlatformRule(
    "forestall-devices-offline",
    "Devices offline",
    'SELECT sum("offline") AS "offline" FROM (SELECT 1 - last("online") AS "offline" FROM "asset_status"'
    ' GROUP BY "tenant", "asset") GROUP BY "tenant"',
    "gt",
    0,
    "15m",
    "{{ $labels.tenant }}: {{ $values.B }} devices offline",
    influx=True,
)
PLATFORM_RULES = (WORKER_DOWN, WORKER_LAGGING, TENANT_SILENT, REJECTION_SPIKE, DLQ_GROWING, DEVICES_OFFLINE)
WINDOW_S = 600


def platform_rule(spec: PlatformRule) -> alerting.Rule:
    """A: the query (instant); B: each series' last value; C: the threshold. No data, or an
    error, fires: the rule watches the pipeline that would have produced the data."""
    window = alerting_model.RelativeTimeRange(from_val=WINDOW_S, to=0)
    if spec.influx:
        model_a: Any = InfluxQueryBuilder(InfluxQuery("A", spec.query, "time_series"))
        source_uid = str(DATASOURCE.uid)
    else:
        model_a = PromQueryBuilder(PromQuery("A", spec.query, instant=True))
        source_uid = str(METRICS.uid)
    source = alerting.Query("A").datasource_uid(source_uid).relative_time_range(window).model(model_a)
    reduce = (
        alerting.Query("B")
        .datasource_uid("__expr__")
        .relative_time_range(window)
        .model(expressions.TypeReduce().ref_id("B").datasource(EXPRESSIONS).expression("A").reducer("last"))
    )
    evaluator = (
        expressions.ExprTypeThresholdConditionsEvaluator().type(spec.evaluator).params([spec.threshold])
    )
    threshold = (
        alerting.Query("C")
        .datasource_uid("__expr__")
        .relative_time_range(window)
        .model(
            expressions.TypeThreshold()
            .ref_id("C")
            .datasource(EXPRESSIONS)
            .expression("B")
            .conditions([expressions.ExprTypeThresholdConditions().evaluator(evaluator)])
        )
    )
    return (
        alerting.Rule(spec.title)
        .uid(spec.uid)
        .queries([source, reduce, threshold])
        .condition("C")
        .for_val(spec.wait)
        .no_data_state("Alerting")
        .exec_err_state("Alerting")
        .labels(LABEL)
        .annotations({"summary": spec.summary})
    )


def platform_rules() -> list[dict[str, Any]]:
    """The rules as Grafana's alerting provisioning file takes them."""
    keys = ["uid", "title", "condition", "data", "for", "noDataState", "execErrState"]
    keys += ["labels", "annotations"]
    return [{key: built_json(platform_rule(spec))[key] for key in keys} for spec in PLATFORM_RULES]


# The operators' contact point: e-mail, through the SMTP server Grafana is given (GF_SMTP_*).
OPERATORS_CONTACT_POINT: dict[str, Any] = {
    "orgId": 1,
    "name": CONTACT_POINT,
    "receivers": [{"uid": CONTACT_POINT, "type": "email", "settings": {"addresses": "$FORESTALL_OPS_EMAIL"}}],
}
OPERATORS_ROUTE: dict[str, Any] = {
    "receiver": CONTACT_POINT,
    "object_matchers": [["forestall", "=", "platform"]],
    "group_by": ["alertname", "tenant"],
    "repeat_interval": "4h",
}

DATASOURCE_YAML = f"""\
  # the worker's and the API's metrics, scraped by the victoriametrics service (monitoring/scrape.yml)
  - name: Forestall metrics
    uid: {METRICS.uid}
    type: prometheus
    access: proxy
    url: ${{FORESTALL_METRICS_URL}}
    jsonData:
      httpMethod: POST
"""
