"""The platform watches itself: the shipped ``monitoring/scrape.yml`` loaded into a real
VictoriaMetrics (``-promscrape.config``, only its targets and interval replaced) brings a running
worker's and a running API's operational metrics into its store, where PromQL reads them."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from api.server import ApiServer
from forestall.broker import free_port
from forestall.settings import Settings
from ingest.worker import Worker
from tests.conftest import Mosquitto
from tests.ingest.conftest import _binary, _wait_http
from tests.support import wait_for

REPO = Path(__file__).resolve().parents[1]
SCRAPE = REPO / "monitoring" / "scrape.yml"
T0 = 1_795_460_400.0
TOPIC = "forestall/v1/acme/pump-1/telemetry"


def _scrape_config(folder: Path, targets: dict[str, int]) -> Path:
    text = SCRAPE.read_text()
    for shipped, port in targets.items():
        text, count = re.subn(rf'"{re.escape(shipped)}"', f'"127.0.0.1:{port}"', text)
        assert count == 1, f"the shipped scrape config no longer targets {shipped}"
    text, count = re.subn(r"scrape_interval: \d+s", "scrape_interval: 1s", text)
    assert count
    path = folder / "scrape.yml"
    path.write_text(text)
    return path


@pytest.fixture
def scraper(tmp_path: Path) -> Iterator[tuple[str, int, int]]:
    """VictoriaMetrics scraping, with the shipped file, the ports a worker and an API will use."""
    worker_port, api_port, vm_port = free_port(), free_port(), free_port()
    config = _scrape_config(tmp_path, {"worker:9108": worker_port, "api:8000": api_port})
    log = open(tmp_path / "vm.log", "ab")  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen(
        [
            _binary("victoria-metrics", "victoria-metrics-prod"),
            f"-httpListenAddr=127.0.0.1:{vm_port}",
            f"-storageDataPath={tmp_path / 'vm'}",
            "-retentionPeriod=100y",
            f"-promscrape.config={config}",
            "-promscrape.config.strictParse",
            "-search.latencyOffset=0s",  # answer with the newest points, not those 30 s old
        ],
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{vm_port}"
    try:
        if not _wait_http(f"{url}/health"):
            pytest.fail(f"victoria-metrics did not start: {(tmp_path / 'vm.log').read_text()[-800:]}")
        yield url, worker_port, api_port
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def _query(url: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _value(url: str, promql: str) -> float | None:
    result = _query(url, promql)
    return float(result[0]["value"][1]) if result else None


def _telemetry(seq: int) -> bytes:
    samples = [{"ts": T0 + seq * 10 + i, "values": {"temp_c": 60.0 + i}} for i in range(5)]
    return json.dumps(
        {"schema": "forestall.telemetry/1", "asset": "pump-1", "seq": seq, "samples": samples}
    ).encode()


def test_a_running_workers_and_apis_metrics_arrive_in_victoria_metrics(
    scraper: tuple[str, int, int], tmp_path: Path, state_db_url: str
) -> None:
    url, worker_port, api_port = scraper
    broker = Mosquitto(tmp_path / "mosquitto")
    settings = Settings(
        database_url=state_db_url,
        mqtt={"url": broker.url},  # type: ignore[arg-type]
        store={"path": str(tmp_path / "tsdb.sqlite")},  # type: ignore[arg-type]
        worker={  # type: ignore[arg-type]
            "checkpoint_dir": str(tmp_path / "checkpoints"),
            "metrics_port": worker_port,
            "metrics_host": "127.0.0.1",
        },
        api={"host": "127.0.0.1", "port": api_port},  # type: ignore[arg-type]
    )
    worker = Worker(settings, predictor_enabled=False)
    api = ApiServer(settings, deliver_webhooks=False)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"monitoring-{time.monotonic_ns()}")
    try:
        worker.start()
        api.start()
        assert wait_for(lambda: worker.connected)
        time.sleep(0.3)
        publisher.connect("127.0.0.1", int(broker.url.rsplit(":", 1)[1]))
        publisher.loop_start()
        for seq in range(1, 5):
            publisher.publish("forestall/v1/acme/pump-1/telemetry", _telemetry(seq), qos=1).wait_for_publish(
                10
            )
        publisher.publish("forestall/v1/acme/pump-1/telemetry", b"not json", qos=1).wait_for_publish(10)
        assert httpx.get(f"{api.url}/healthz", timeout=10).status_code == 200

        stored = 'sum(forestall_ingest_samples_total{job="forestall-worker"})'
        assert wait_for(lambda: _value(url, stored) == 20.0, timeout=60), _query(url, stored)
        rejected = 'sum(forestall_ingest_rejected_total{job="forestall-worker"})'
        assert wait_for(lambda: (_value(url, rejected) or 0) >= 1, timeout=60), _query(url, rejected)
        requests = 'sum(forestall_api_requests_total{job="forestall-api"})'
        assert wait_for(lambda: (_value(url, requests) or 0) >= 1, timeout=60), _query(url, requests)
        for job in ("forestall-worker", "forestall-api"):
            assert _value(url, f'up{{job="{job}"}}') == 1.0
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        api.stop()
        worker.stop()
        broker.stop()
