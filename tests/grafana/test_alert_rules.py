"""Every provisioned alert rule, evaluated as Grafana does (``evaluate.py``) on a real store: the
visit rules and the devices-offline rule on InfluxDB 1.6, the platform rules' PromQL on
VictoriaMetrics — each against data that should fire it and data that should not. The visit rules
never fire on missing data or a failed query; the platform rules do."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from grafana.alerts import FAILURE_PROBABILITY, RISK_INDEX
from grafana.operations import (
    DEVICES_OFFLINE,
    DLQ_GROWING,
    MODEL_VERSIONS,
    PANELS,
    REJECTION_SPIKE,
    TENANT_SILENT,
    WORKER_DOWN,
    WORKER_LAGGING,
)
from tests.grafana.evaluate import ALERTING, NORMAL, evaluate, influxql, promql, provisioned_rule
from tests.ingest.conftest import InfluxDB1, VictoriaMetrics
from tests.support import as_grafana_sends

NOW = time.time()
HOUR = (NOW - 3600, NOW)


def _write(server: InfluxDB1, database: str, lines: list[str]) -> None:
    server.query(f'CREATE DATABASE "{database}"')
    response = httpx.post(
        f"{server.url}/write", params={"db": database, "precision": "s"}, content="\n".join(lines), timeout=30
    )
    assert response.status_code == 204, response.text


@pytest.fixture(scope="module")
def influx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB1]:
    server = InfluxDB1(tmp_path_factory.mktemp("rules") / "influxdb")
    yield server
    server.stop()


def test_a_visit_rule_fires_above_its_threshold_and_never_on_missing_data_or_errors(
    influx: InfluxDB1,
) -> None:
    t = int(NOW - 600)
    health = "asset_health,tenant=acme,model_version=v"
    _write(
        influx,
        "visits",
        [
            # p-1: high now (fires); p-2: was high, now low (newest counts); p-3: high two hours ago only
            f"{health},customer=c1,asset=p-1 failure_probability=0.93 {t}",
            f"{health},customer=c1,asset=p-2 failure_probability=0.95 {t - 60}",
            f"{health},customer=c1,asset=p-2 failure_probability=0.40 {t}",
            f"{health},customer=c2,asset=p-3 failure_probability=0.99 {t - 7200}",
            f"customer_risk,tenant=acme,customer=c1 risk_index=82 {t}",
            f"customer_risk,tenant=acme,customer=c2 risk_index=35 {t}",
        ],
    )
    rule = provisioned_rule(FAILURE_PROBABILITY.uid)
    outcome = evaluate(rule, influxql(influx.url, "visits", HOUR))
    assert outcome.firing == {frozenset({("tenant", "acme"), ("customer", "c1"), ("asset", "p-1")})}
    assert len(outcome.states) == 2  # p-3's last hour is empty: not an instance at all
    risk = evaluate(provisioned_rule(RISK_INDEX.uid), influxql(influx.url, "visits", HOUR))
    assert risk.firing == {frozenset({("tenant", "acme"), ("customer", "c1")})}

    # a dead worker writes nothing: no data is OK, and so is a store that fails the query
    influx.query('CREATE DATABASE "silent"')
    for spec in (FAILURE_PROBABILITY, RISK_INDEX):
        quiet = evaluate(provisioned_rule(spec.uid), influxql(influx.url, "silent", HOUR))
        assert (quiet.reason, quiet.firing) == ("NoData", set())
        failed = evaluate(provisioned_rule(spec.uid), influxql(influx.url + "/nowhere", "silent", HOUR))
        assert (failed.reason, failed.firing) == ("Error", set())


def test_the_devices_offline_rule_counts_offline_devices_per_tenant_however_long_ago(
    influx: InfluxDB1,
) -> None:
    month_ago = int(NOW - 30 * 86400)
    _write(
        influx,
        "liveness",
        [  # asset_status is written at each change only
            f"asset_status,tenant=acme,asset=p-1,customer=c1 online=1 {month_ago}",
            f"asset_status,tenant=acme,asset=p-1,customer=c1 online=0 {month_ago + 60}",
            f"asset_status,tenant=acme,asset=p-2,customer=c1 online=1 {month_ago}",
            f"asset_status,tenant=globex,asset=g-1,customer=c9 online=0 {month_ago}",
            f"asset_status,tenant=globex,asset=g-1,customer=c9 online=1 {int(NOW) - 60}",
        ],
    )
    rule = provisioned_rule(DEVICES_OFFLINE.uid)
    outcome = evaluate(rule, influxql(influx.url, "liveness", (NOW - 600, NOW)))
    assert outcome.states == {
        frozenset({("tenant", "acme")}): ALERTING,  # p-1, offline for a month
        frozenset({("tenant", "globex")}): NORMAL,  # back online
    }
    failed = evaluate(rule, influxql(influx.url + "/nowhere", "liveness", (NOW - 600, NOW)))
    assert (failed.reason, failed.firing) == ("Error", {frozenset()})


# -- the platform rules' PromQL on VictoriaMetrics ---------------------------------------------------

STEP_S = 15
FIRES_AT = NOW - 6 * 3600  # two stretches of history, far enough apart not to mix in any window
QUIET_AT = NOW - 3 * 3600


def _history(at: float, series: dict[str, Callable[[int], int]]) -> str:
    """Prometheus text lines with timestamps: 80 minutes of scrapes every 15 s up to ``at``."""
    lines = []
    for step in range(0, 80 * 60 // STEP_S + 1):
        t = at - 80 * 60 + step * STEP_S
        for name, value_at in series.items():
            lines.append(f"{name} {value_at(step)} {int(t * 1000)}")
    return "\n".join(lines) + "\n"


FIRING = {  # what a broken pipeline's scrapes look like
    'up{job="forestall-worker"}': lambda s: 0,
    'forestall_ingest_queue_messages{job="forestall-worker"}': lambda s: 20000,
    'forestall_ingest_lag_seconds_count{job="forestall-worker",tenant="acme"}': lambda s: 500,  # no new batch
    'forestall_ingest_lag_seconds_count{job="forestall-worker",tenant="globex"}': lambda s: 10 * s,
    'forestall_ingest_rejected_total{job="forestall-worker",reason="schema"}': lambda s: 5 * STEP_S * s,
    'forestall_webhook_deliveries{job="forestall-api",status="dead"}': lambda s: s // 40,
}
QUIET = {  # a healthy one
    'up{job="forestall-worker"}': lambda s: 1,
    'forestall_ingest_queue_messages{job="forestall-worker"}': lambda s: 3,
    'forestall_ingest_lag_seconds_count{job="forestall-worker",tenant="acme"}': lambda s: 10 * s,
    'forestall_ingest_lag_seconds_count{job="forestall-worker",tenant="globex"}': lambda s: 10 * s,
    'forestall_ingest_rejected_total{job="forestall-worker",reason="schema"}': lambda s: s // 20,
    'forestall_webhook_deliveries{job="forestall-api",status="dead"}': lambda s: 4,
}


@pytest.fixture(scope="module")
def metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    server = VictoriaMetrics(tmp_path_factory.mktemp("rules") / "vm")
    try:
        for at, series in ((FIRES_AT, FIRING), (QUIET_AT, QUIET)):
            response = httpx.post(
                f"{server.url}/api/v1/import/prometheus", content=_history(at, series), timeout=30
            )
            assert response.status_code == 204, response.text
        httpx.get(f"{server.url}/internal/force_flush", timeout=30)
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("spec", "fired"),
    [
        (WORKER_DOWN, {frozenset({("job", "forestall-worker"), ("__name__", "up")})}),
        (WORKER_LAGGING, {frozenset()}),
        (TENANT_SILENT, {frozenset({("tenant", "acme")})}),  # globex still sends
        (REJECTION_SPIKE, {frozenset()}),
        (DLQ_GROWING, {frozenset()}),
    ],
    ids=lambda v: getattr(v, "uid", ""),
)
def test_a_platform_rule_fires_on_a_broken_pipeline_and_not_on_a_healthy_one(
    metrics: VictoriaMetrics, spec: object, fired: set[frozenset[tuple[str, str]]]
) -> None:
    rule = provisioned_rule(spec.uid)  # type: ignore[attr-defined]
    assert wait_until_answered(metrics.url, QUIET_AT)
    broken = evaluate(rule, promql(metrics.url, FIRES_AT))
    assert broken.reason == "" and broken.firing == fired
    healthy = evaluate(rule, promql(metrics.url, QUIET_AT))
    assert healthy.reason == "" and healthy.firing == set(), healthy
    # nothing scraped at all (VictoriaMetrics empty, or the scraper down): it fires too
    silent = evaluate(rule, promql(metrics.url, NOW - 30 * 86400))
    assert (silent.reason, silent.firing) == ("NoData", {frozenset()})


def wait_until_answered(url: str, at: float) -> bool:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = httpx.get(f"{url}/api/v1/query", params={"query": "up", "time": at}, timeout=10).json()
        if answer["data"]["result"]:
            return True
        time.sleep(0.5)
    return False


def test_the_rules_evaluator_reads_the_provisioned_files(tmp_path: Path) -> None:
    """The evaluator fails loudly on a rule it cannot evaluate as Grafana would."""
    rule = provisioned_rule(WORKER_DOWN.uid)
    rule["data"][1]["model"]["reducer"] = "mean"
    with pytest.raises(AssertionError, match="last only"):
        evaluate(rule, promql("http://127.0.0.1:9", NOW))


def test_the_operations_panels_not_fed_by_a_worker_read_what_they_chart(
    metrics: VictoriaMetrics, influx: InfluxDB1
) -> None:
    """The webhook panel on the API's gauge (the worker's panels: test_dead_pipeline.py) and the
    model versions panel on the health points' tag."""
    [(webhooks, _legend, _unit)] = [v for v in PANELS.values() if "webhook" in v[0]]
    [dead] = promql(metrics.url, FIRES_AT)(webhooks)
    assert dead[0] == frozenset({("status", "dead")}) and dead[1] == [float(80 * 60 // STEP_S // 40)]
    health = "asset_health,tenant=acme,model_version=fleet-9"
    points = [f"{health},asset=p-{n} failure_probability=0.1 {int(NOW) - 60}" for n in range(3)]
    _write(influx, "models", points)
    text = as_grafana_sends(MODEL_VERSIONS, HOUR, "1h")
    rows = influx.rows(text, db="models")
    assert [(r["model_version"], r["health_points"]) for r in rows if r["health_points"]] == [("fleet-9", 3)]
