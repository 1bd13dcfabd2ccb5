"""A stopped worker, seen as Grafana would see it: VictoriaMetrics scrapes a real worker with the
shipped ``monitoring/scrape.yml``; once the worker stops, the provisioned "Worker down" and "No
data from a tenant" rules fire, and the visit rules, on the InfluxDB 1.6 the worker wrote to,
fire nothing — a dead worker opens no visit."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from forestall.broker import free_port
from forestall.contract import Sample, telemetry_payload
from forestall.settings import Settings
from forestall.state.db import upgrade
from grafana.alerts import RULES
from grafana.operations import PANELS, TENANT_SILENT, WORKER_DOWN
from ingest.worker import Worker
from tests.conftest import Mosquitto
from tests.grafana.evaluate import ALERTING, NORMAL, evaluate, influxql, promql, provisioned_rule
from tests.ingest.conftest import InfluxDB1, _binary, _wait_http
from tests.support import wait_for
from tests.test_monitoring import _scrape_config


@pytest.fixture
def scraped_worker_port(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """VictoriaMetrics scraping, every second, the port a worker will serve its metrics on."""
    worker_port, vm_port = free_port(), free_port()
    config = _scrape_config(tmp_path, {"worker:9108": worker_port, "api:8000": free_port()})
    log = open(tmp_path / "vm.log", "ab")  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen(
        [
            _binary("victoria-metrics", "victoria-metrics-prod"),
            f"-httpListenAddr=127.0.0.1:{vm_port}",
            f"-storageDataPath={tmp_path / 'vm'}",
            f"-promscrape.config={config}",
            "-search.latencyOffset=0s",
        ],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{vm_port}"
    try:
        assert _wait_http(f"{url}/health"), (tmp_path / "vm.log").read_text()[-800:]
        yield url, worker_port
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_a_stopped_worker_fires_the_platform_rules_and_opens_no_visit(
    tmp_path: Path, scraped_worker_port: tuple[str, int]
) -> None:
    metrics_url, worker_port = scraped_worker_port
    influx = InfluxDB1(tmp_path / "influxdb")
    broker = Mosquitto(tmp_path / "mosquitto")
    influx.query("CREATE DATABASE forestall")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        mqtt={"url": broker.url},  # type: ignore[arg-type]
        store={"kind": "influxdb", "path": str(tmp_path / "tsdb")},  # type: ignore[arg-type]
        influxdb={"url": influx.url, "api": "v1", "bucket": "forestall", "flush_interval_s": 0.2},  # type: ignore[arg-type]
        worker={  # type: ignore[arg-type]
            "checkpoint_dir": str(tmp_path / "checkpoints"),
            "metrics_port": worker_port,
            "metrics_host": "127.0.0.1",
        },
    )
    upgrade(settings.database_url)
    worker = Worker(settings, predictor_enabled=False)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dead-pipeline-{time.monotonic_ns()}")
    down, silent = provisioned_rule(WORKER_DOWN.uid), provisioned_rule(TENANT_SILENT.uid)
    try:
        worker.start()
        assert wait_for(lambda: worker.connected)
        publisher.connect("127.0.0.1", int(broker.url.rsplit(":", 1)[1]))
        publisher.loop_start()
        samples = [Sample(time.time() - 5 + i, {"temp_c": 60.0 + i}) for i in range(5)]
        payload = telemetry_payload("pump-1", 1, samples)
        publisher.publish("forestall/v1/acme/pump-1/telemetry", payload, qos=1).wait_for_publish(10)
        assert wait_for(lambda: worker.metrics.samples._value.get() == 5)

        def state(rule: dict[str, object]) -> dict[frozenset[tuple[str, str]], str]:
            return evaluate(rule, promql(metrics_url, time.time())).states

        # running: the worker is up and acme has sent
        assert wait_for(lambda: set(state(down).values()) == {NORMAL}, timeout=60), state(down)
        acme = frozenset({("tenant", "acme")})
        assert wait_for(lambda: state(silent) == {acme: NORMAL}, timeout=60), state(silent)
        # the Operations dashboard's panels on the worker's metrics (the webhook panel is the API's)
        publisher.publish("forestall/v1/acme/pump-1/telemetry", b"{not json", qos=1).wait_for_publish(10)
        later = [Sample(time.time() - 5 + i, {"temp_c": 61.0 + i}) for i in range(5)]  # lag is a rate
        payload = telemetry_payload("pump-1", 2, later)
        publisher.publish("forestall/v1/acme/pump-1/telemetry", payload, qos=1).wait_for_publish(10)
        assert wait_for(lambda: worker.metrics.samples._value.get() == 10)
        for title, (expr, _legend, _unit) in PANELS.items():
            if "webhook" not in expr:
                assert wait_for(lambda e=expr: promql(metrics_url, time.time())(e), timeout=30), title

        worker.stop()
        # stopped: the scrape fails (up 0) and the worker's series end
        assert wait_for(lambda: set(state(down).values()) == {ALERTING}, timeout=60), state(down)
        # half an hour on, its last samples have left every window: both fire on no data
        later = time.time() + 31 * 60
        for rule in (down, silent):
            outcome = evaluate(rule, promql(metrics_url, later))
            assert outcome.reason == "NoData" and outcome.firing == {frozenset()}

        # the visit rules read what the dead worker left: nothing new, so nothing fires
        hour = (time.time() - 3600, time.time())
        for spec in RULES:
            outcome = evaluate(provisioned_rule(spec.uid), influxql(influx.url, "forestall", hour))
            assert outcome.reason == "NoData" and outcome.firing == set()
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        worker.stop()
        broker.stop()
        influx.stop()
