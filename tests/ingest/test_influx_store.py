"""The InfluxDB store against real servers: VictoriaMetrics (v2 write API), InfluxDB 1.6 (v1 mode),
an HTTP server that misbehaves on purpose, and InfluxDB 2.x when FORESTALL_TEST_INFLUXDB_URL is set."""

from __future__ import annotations

import gzip
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from influxdb_client.client.write.point import Point as ClientPoint
from paho.mqtt.enums import CallbackAPIVersion

from forestall.broker import free_port
from forestall.contract import Sample, telemetry_payload
from forestall.measurements import event_points
from forestall.series import Point, SeriesTags, StoreError
from forestall.settings import InfluxSettings, Settings
from forestall.state.db import make_engine, make_sessionmaker, upgrade
from forestall.state.models import Asset, Customer, Recommendation, Technician
from forestall.workhours import WEEKDAYS
from grafana.dashboards import QUERIES
from ingest.store.influxdb import InfluxStore
from ingest.store.influxdb.lineproto import encode_points, encode_samples
from ingest.worker import Worker
from predictor.engine import Predictor
from predictor.planner import PlannerPolicy
from predictor.visits import Visits
from tests.conftest import Mosquitto
from tests.ingest.conftest import InfluxDB1, VictoriaMetrics, influxdb2_settings, needs_influxdb2
from tests.support import as_grafana_sends, wait_for

NOW = float(int(time.time()) - 3600)  # VictoriaMetrics ignores points > 2 days ahead or past retention
DAY0 = NOW - NOW % 86400  # midnight UTC of NOW's day


def influx(url: str, **overrides: object) -> InfluxSettings:
    values: dict[str, object] = {
        "url": url,
        "bucket": "forestall",
        "batch_size": 200,
        "flush_interval_s": 0.2,
        "timeout_s": 5.0,
        "max_retry_delay_s": 1.0,
    }
    values.update(overrides)
    return InfluxSettings.model_validate(values)


def samples(batch: int, n: int = 10) -> list[Sample]:
    return [Sample(NOW + batch * n + i, {"temp_c": batch + i / 10, "vibration_mm_s": 2.5}) for i in range(n)]


# -- line protocol: the official client is the reference ----------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)
values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=12)
numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**12), 10**12).map(float)


@hypothesis_settings(deadline=None)  # timing on a loaded machine is not what this checks
@given(
    # A leading "#" makes the line a comment (the client warns); our measurements are fixed names.
    measurement=names.filter(lambda name: not name.startswith("#")),
    tags=st.dictionaries(names, values, max_size=4),
    fields=st.dictionaries(names, numbers, min_size=1, max_size=4),
    ts=st.integers(0, 4_000_000_000_000_000).map(lambda us: us / 1e6),
)
def test_line_protocol_matches_influxdb_client(
    measurement: str, tags: dict[str, str], fields: dict[str, float], ts: float
) -> None:
    reference = ClientPoint(measurement)
    for key, value in tags.items():
        reference.tag(key, value)
    for key, number in fields.items():
        reference.field(key, number)
    reference.time(round(ts * 1_000_000) * 1000)
    expected = reference.to_line_protocol()
    ours = encode_points([Point(measurement, tags, fields, ts)])
    assert ours == ([expected] if expected else [])


def test_telemetry_lines_escape_tags_and_skip_empty_ones() -> None:
    tags = SeriesTags("acme", "pump-1", "centrifugal pump", "ACME, Inc.", "")
    [line] = encode_samples(tags, [Sample(1.5, {"temp_c": 61.0, "vib": 1e-05, "bad": math.inf})])
    assert line == (
        r"telemetry,asset=pump-1,asset_type=centrifugal\ pump,customer=ACME\,\ Inc.,tenant=acme "
        "temp_c=61,vib=1e-05 1500000000"
    )
    assert encode_samples(tags, [Sample(1.0, {"bad": math.nan})]) == []


# -- retries, Retry-After, malformed batches, order: a server that misbehaves on purpose ----------


class FlakyInflux:
    """Answers 503 + Retry-After to the first writes, 503 to every write into the database (v1
    ``db``, v2 ``bucket``) ``down`` names until ``heal()``, 400 to bodies containing ``bad``, else
    204 (and keeps the body)."""

    def __init__(self, unavailable: int, down: str = "") -> None:
        self.written: list[tuple[str, str]] = []  # (database, body)
        self.paths: set[str] = set()
        self.unavailable = unavailable
        self.down = down
        self.lock = threading.Lock()
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                body = gzip.decompress(raw).decode() if self.headers.get("content-encoding") else raw.decode()
                path, _, query = self.path.partition("?")
                params = parse_qs(query)
                database = (params.get("db") or params.get("bucket") or [""])[0]
                with flaky.lock:
                    flaky.paths.add(path)
                    if flaky.unavailable > 0:
                        flaky.unavailable -= 1
                        self.send_response(503)
                        self.send_header("Retry-After", "0.1")
                    elif database and database == flaky.down:
                        self.send_response(503)
                    elif "bad" in body:
                        self.send_response(400)
                        self.send_header("Content-Type", "application/json")
                    else:
                        flaky.written.append((database, body))
                        self.send_response(204)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def heal(self) -> None:
        with self.lock:
            self.down = ""

    def lines(self, database: str | None = None) -> list[str]:
        with self.lock:
            return [line for db, body in self.written if database in (None, db) for line in body.splitlines()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky() -> Iterator[FlakyInflux]:
    server = FlakyInflux(unavailable=3)
    yield server
    server.close()


@pytest.mark.parametrize("api", ["v2", "v1"])
def test_retries_keep_order_and_a_malformed_batch_is_set_aside(
    tmp_path: Path, flaky: FlakyInflux, api: str
) -> None:
    store = InfluxStore(influx(flaky.url, api=api, batch_size=25), tmp_path / "spool.sqlite")
    tags = SeriesTags("acme", "pump-1")
    try:
        for batch in range(10):
            store.write_samples(tags, samples(batch))
            if batch == 4:
                store.write_points(
                    [Point("asset_health", {"tenant": "acme", "asset": "bad"}, {"x": 1.0}, NOW)]
                )
        assert store.flush(timeout=60)
        stamps = [int(line.rsplit(" ", 1)[1]) for line in flaky.lines()]
        assert len(stamps) == 100 and stamps == sorted(stamps)
        assert store.retries >= 3
        [(body, error)] = store.rejected()
        assert "asset=bad" in body and "400" in error
        assert store.batches_rejected == 1
        assert flaky.paths == ({"/api/v2/write"} if api == "v2" else {"/write"})
    finally:
        store.close()


# -- VictoriaMetrics: the v2 write path through an outage and a restart ----------------------------


def test_nothing_is_lost_when_the_server_stops_and_returns(
    tmp_path: Path, victoria_metrics: VictoriaMetrics
) -> None:
    settings = influx(victoria_metrics.url, timeout_s=2.0)
    spool = tmp_path / "spool.sqlite"
    store = InfluxStore(settings, spool)
    tags = SeriesTags("acme", "pump-1", "pump", "c1", "north site")
    assert store.health()
    for batch in range(10):
        store.write_samples(tags, samples(batch))
    assert store.flush(timeout=60)
    victoria_metrics.stop()
    assert not store.health()
    for batch in range(10, 20):
        store.write_samples(tags, samples(batch))  # the outage never reaches the caller
    assert wait_for(lambda: store.reachable is False)
    store.close()  # the process ends with the outage still on: the spool keeps the rest
    victoria_metrics.start()
    store = InfluxStore(settings, spool)  # a new process replays what the old one left
    try:
        for batch in range(20, 30):
            store.write_samples(tags, samples(batch))
        assert store.flush(timeout=120)
        store.write_points(
            [Point("customer_risk", {"tenant": "acme", "customer": "c1"}, {"risk_index": 42.0}, NOW)]
        )
        assert store.flush(timeout=60)
    finally:
        store.close()
    [temp] = victoria_metrics.export('{__name__="telemetry_temp_c",asset="pump-1"}')
    assert temp["metric"] == {
        "__name__": "telemetry_temp_c",
        "tenant": "acme",
        "asset": "pump-1",
        "asset_type": "pump",
        "customer": "c1",
        "site": "north site",
    }
    expected = [(s.ts, s.values["temp_c"]) for batch in range(30) for s in samples(batch)]
    assert list(zip(temp["timestamps"], temp["values"], strict=True)) == [  # type: ignore[call-overload]
        (int(ts * 1000), value) for ts, value in expected
    ]
    [risk] = victoria_metrics.export('{__name__="customer_risk_risk_index"}')
    assert risk["values"] == [42.0]
    assert victoria_metrics.metric("vm_rows_ignored_total") == 0
    assert victoria_metrics.metric('vm_rows_invalid_total{type="influx"}') == 0


# -- InfluxDB 1.6 through the v1 mode, read back with InfluxQL -------------------------------------


def test_v1_mode_writes_every_measurement_and_reads_it_back(tmp_path: Path, influxdb1: InfluxDB1) -> None:
    influxdb1.query("CREATE DATABASE forestall")
    store = InfluxStore(influx(influxdb1.url, api="v1"), tmp_path / "spool.sqlite")
    odd = SeriesTags("acme", "pump-1", "pump=big", "ACME, Inc.", "north site")
    points = [
        Point(
            "asset_health",
            {"tenant": "acme", "asset": "pump-1", "customer": "ACME, Inc.", "model_version": "v1"},
            {"anomaly_score": 0.25, "failure_probability": 0.1, "ttf_hours": 300.0},
            NOW + 5,
        ),
        Point("customer_risk", {"tenant": "acme", "customer": "ACME, Inc."}, {"risk_index": 42.5}, NOW + 5),
        Point(
            "recommendation",
            {"tenant": "acme", "customer": "ACME, Inc.", "asset": "pump-1", "priority": "P2"},
            {"priority_score": 0.7},
            NOW + 6,
        ),
    ]
    try:
        assert store.health()
        for batch in range(5):
            store.write_samples(odd, samples(batch))
        store.write_points(points)
        assert store.flush(timeout=60)
        stored = store.query_telemetry("acme", "pump-1", NOW, NOW + 1000)
        assert stored == [(s.ts, s.values) for batch in range(5) for s in samples(batch)]
        assert store.query_telemetry("acme", "pump-1", NOW, NOW + 1000, sensors=["temp_c"], limit=2) == [
            (NOW, {"temp_c": 0.0}),
            (NOW + 1, {"temp_c": 0.1}),
        ]
        assert store.query_telemetry("acme", "pump-1", NOW, NOW + 1000, after=NOW + 48) == [
            (NOW + 49, samples(4)[-1].values)
        ]
        [health] = store.query_points("asset_health", "acme", "pump-1", NOW, NOW + 10)
        assert health.tags["customer"] == "ACME, Inc." and health.fields["ttf_hours"] == 300.0
        [risk] = store.query_points("customer_risk", "acme", "ACME, Inc.", NOW, NOW + 10)
        assert risk == points[1]
        [rec] = store.query_points("recommendation", "acme", "pump-1", NOW, NOW + 10)
        assert rec.tags["priority"] == "P2"
        tags = influxdb1.query('SHOW TAG VALUES FROM telemetry WITH KEY = "asset_type"', db="forestall")
        assert "pump=big" in str(tags)
        with pytest.raises(StoreError, match="not supported"):
            store.count_samples()
    finally:
        store.close()


@pytest.mark.parametrize("tenant_buckets", [False, True], ids=["one-bucket", "bucket-per-tenant"])
def test_v1_retention_deletes_one_tenants_old_points_only(
    tmp_path: Path, influxdb1: InfluxDB1, tenant_buckets: bool
) -> None:
    influxdb1.query("CREATE DATABASE forestall")
    settings = influx(influxdb1.url, api="v1", tenant_buckets=tenant_buckets)
    store = InfluxStore(settings, tmp_path / "spool.sqlite", retention_days=1)
    try:
        for tenant in ("acme", "other"):
            old, recent = Sample(NOW - 3 * 86400, {"t": 1.0}), Sample(NOW, {"t": 2.0})
            store.write_samples(SeriesTags(tenant, "pump-1", "pump"), [old, recent])
            store.write_points(
                [Point("asset_health", {"tenant": tenant, "asset": "pump-1"}, {"x": 1.0}, old.ts)]
            )
        assert store.flush()
        store.purge("acme", NOW)
        assert store.query_telemetry("acme", "pump-1", 0, NOW + 1) == [(NOW, {"t": 2.0})]
        assert store.query_points("asset_health", "acme", "pump-1", 0, NOW + 1) == []
        assert len(store.query_telemetry("other", "pump-1", 0, NOW + 1)) == 2
        assert len(store.query_points("asset_health", "other", "pump-1", 0, NOW + 1)) == 1
    finally:
        store.close()


def test_v1_each_tenant_gets_a_database_of_its_own(tmp_path: Path, influxdb1: InfluxDB1) -> None:
    """With ``tenant_buckets`` a tenant's first point creates its database, and nothing of one
    tenant lands in another's or in the shared one; order is kept within each."""
    influxdb1.query("CREATE DATABASE forestall")
    store = InfluxStore(influx(influxdb1.url, api="v1", tenant_buckets=True), tmp_path / "spool.sqlite")
    try:
        for i in range(30):  # interleaved: the spool's batches alternate between the two buckets
            tenant = ("acme", "globex")[i % 2]
            store.write_samples(SeriesTags(tenant, "pump-1", "pump"), [Sample(NOW + i, {"t": float(i)})])
            store.write_points(
                [Point("customer_risk", {"tenant": tenant, "customer": "c"}, {"risk_index": i}, NOW + i)]
            )
        assert store.flush(timeout=60)
        databases = str(influxdb1.query("SHOW DATABASES"))
        assert "forestall_acme" in databases and "forestall_globex" in databases
        for tenant, first in (("acme", 0), ("globex", 1)):
            rows = influxdb1.query("SELECT * FROM telemetry", db=f"forestall_{tenant}")
            series = rows["results"][0]["series"][0]  # type: ignore[index]
            assert {row[series["columns"].index("tenant")] for row in series["values"]} == {tenant}
            assert [row[series["columns"].index("t")] for row in series["values"]] == list(
                map(float, range(first, 30, 2))
            )
            assert len(store.query_points("customer_risk", tenant, "c", 0, NOW + 100)) == 15
        assert "series" not in influxdb1.query("SELECT * FROM telemetry", db="forestall")["results"][0]  # type: ignore[index]
    finally:
        store.close()


def test_v1_a_batch_the_server_refuses_is_kept_apart_and_the_rest_continue(
    tmp_path: Path, influxdb1: InfluxDB1
) -> None:
    influxdb1.query("CREATE DATABASE forestall")
    store = InfluxStore(influx(influxdb1.url, api="v1", batch_size=10_000), tmp_path / "spool.sqlite")
    try:
        store.write_points(
            [Point("asset_health", {"tenant": "t", "asset": "a"}, {"anomaly_score": 1.0}, NOW)]
        )
        assert store.flush(timeout=60)
        # Another writer made the field a string: the server refuses our floats (field type conflict).
        import httpx

        httpx.post(
            f"{influxdb1.url}/write",
            params={"db": "forestall"},
            content=f'telemetry,tenant=t,asset=x temp_c="hot" {int(NOW * 1e9)}',
        ).raise_for_status()
        store.write_samples(SeriesTags("t", "a"), samples(0))
        store.write_samples(SeriesTags("t", "b"), [Sample(NOW, {"pressure_bar": 3.0})])
        assert store.flush(timeout=60)
        [(body, error)] = store.rejected()
        assert "asset=a" in body and "field type conflict" in error
        assert store.query_telemetry("t", "b", NOW, NOW + 10) == [(NOW, {"pressure_bar": 3.0})]
    finally:
        store.close()


# -- InfluxDB 2.x: only when one is provided -------------------------------------------------------


@needs_influxdb2
def test_v2_against_a_real_influxdb2(tmp_path: Path) -> None:
    from influxdb_client.client.influxdb_client import InfluxDBClient

    settings = influxdb2_settings(batch_size=200)
    asset = f"pump-{time.time_ns()}"
    store = InfluxStore(settings, tmp_path / "spool.sqlite")
    try:
        assert store.health()
        store.write_samples(SeriesTags("acme", asset), samples(0))
        assert store.flush(timeout=60)
    finally:
        store.close()
    with InfluxDBClient(url=settings.url, token=settings.token, org=settings.org) as client:
        tables = client.query_api().query(
            f'from(bucket: "{settings.bucket}") |> range(start: -1d) '
            f'|> filter(fn: (r) => r.asset == "{asset}" and r._field == "temp_c")'
        )
        got = sorted((r.get_time().timestamp(), r.get_value()) for t in tables for r in t.records)
    assert got == [(s.ts, s.values["temp_c"]) for s in samples(0)]


# -- chosen by configuration: a worker writing to VictoriaMetrics ----------------------------------


@contextmanager
def worker_publishing(
    tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxSettings, client_id: str
) -> Iterator[tuple[Worker, mqtt.Client]]:
    """A real worker on ``influxdb`` (predictor off), connected, and a publisher on the broker."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'state.db'}",
        mqtt={"url": mosquitto.url},
        store={"kind": "influxdb", "path": str(tmp_path / "tsdb")},
        influxdb=influxdb.model_dump(),
        worker={"checkpoint_dir": str(tmp_path / "ckpt")},
    )
    upgrade(settings.database_url)
    worker = Worker(settings, predictor_enabled=False)
    worker.start()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        assert wait_for(lambda: worker.connected)
        time.sleep(0.5)
        yield worker, client
    finally:
        client.loop_stop()
        client.disconnect()
        worker.stop()


def test_a_worker_configured_for_influxdb_writes_there(
    tmp_path: Path, victoria_metrics: VictoriaMetrics, mosquitto: Mosquitto
) -> None:
    influxdb = influx(victoria_metrics.url)
    with worker_publishing(tmp_path, mosquitto, influxdb, "influx-worker-publisher") as (worker, client):
        assert isinstance(worker.store, InfluxStore)
        for seq in range(5):
            payload = telemetry_payload("pump-7", seq + 1, samples(seq))
            client.publish("forestall/v1/acme/pump-7/telemetry", payload, qos=1).wait_for_publish(30)
        assert wait_for(lambda: worker.metrics.samples._value.get() == 50)
        assert worker.store.flush(timeout=60)
    assert (tmp_path / "tsdb.influx-spool.sqlite").exists()
    [series] = victoria_metrics.export('{__name__="telemetry_temp_c",asset="pump-7"}')
    assert len(series["values"]) == 50  # type: ignore[arg-type]
    assert victoria_metrics.metric("vm_rows_ignored_total") == 0


def test_the_worker_writes_liveness_and_rejections_for_the_fleet_dashboard(
    tmp_path: Path, influxdb1: InfluxDB1, mosquitto: Mosquitto
) -> None:
    """Through a real worker on InfluxDB 1.6 (v1): a status change is an ``asset_status`` point and
    each chunk's rejections an ``ingest_rejections`` count per reason, which the Fleet dashboard's
    panels read back as Grafana would send them."""
    influxdb1.query("CREATE DATABASE forestall")
    sent = {"malformed_json": 3, "schema": 2}
    influxdb = influx(influxdb1.url, api="v1")
    with worker_publishing(tmp_path, mosquitto, influxdb, "influx-dashboard-publisher") as (worker, client):
        status = b'{"schema": "forestall.status/1", "asset": "pump-7", "state": "online"}'
        client.publish("forestall/v1/acme/pump-7/status", status, qos=1).wait_for_publish(30)
        for _ in range(sent["malformed_json"]):
            client.publish("forestall/v1/acme/pump-7/telemetry", b"{not json", qos=1).wait_for_publish(30)
        for _ in range(sent["schema"]):
            client.publish("forestall/v1/acme/pump-7/telemetry", b'{"schema": "x"}', qos=1).wait_for_publish(
                30
            )
        client.publish(
            "forestall/v1/acme/pump-7/telemetry", telemetry_payload("pump-7", 1, samples(0)), qos=1
        )
        assert wait_for(lambda: worker.metrics.samples._value.get() == 10)
        assert worker.store.flush(timeout=60)
    span = (time.time() - 3600, time.time() + 60)
    rejected = influxdb1.rows(
        as_grafana_sends(QUERIES["INGEST_REJECTIONS"].text, span, "10000d", tenant="acme")
    )
    assert {r["reason"]: r["rejected"] for r in rejected} == sent
    online = influxdb1.rows(as_grafana_sends(QUERIES["ASSETS_ONLINE"].text, span, "10000d", tenant="acme"))
    assert [(r["asset"], r["online"]) for r in online] == [("pump-7", 1.0)]


def test_a_tenant_bucket_the_server_refuses_does_not_hold_up_the_others(tmp_path: Path) -> None:
    """With a bucket per tenant, acme's database refusing writes backs acme's batches off, in
    order, while globex's go on being written; once it heals acme's arrive, in order."""
    server = FlakyInflux(unavailable=0, down="forestall_acme")
    store = InfluxStore(
        influx(server.url, api="v1", tenant_buckets=True, batch_size=10), tmp_path / "spool.sqlite"
    )
    try:
        for batch in range(6):
            for tenant in ("acme", "globex"):
                store.write_samples(SeriesTags(tenant, "pump-1"), samples(batch))
        assert wait_for(lambda: len(server.lines("forestall_globex")) == 60, timeout=30)
        assert server.lines("forestall_acme") == [] and store.retries >= 1
        server.heal()
        assert store.flush(timeout=60)
        stamps = [int(line.rsplit(" ", 1)[1]) for line in server.lines("forestall_acme")]
        assert len(stamps) == 60 and stamps == sorted(stamps)
    finally:
        store.close()
        server.close()


def test_contract_events_are_counted_per_customer_segment_and_kind_on_the_experience_dashboard(
    tmp_path: Path, influxdb1: InfluxDB1
) -> None:
    """The points of contract events (``forestall.measurements``), written to InfluxDB 1.6 (v1),
    read back by the Customer experience dashboard's contracts panel as Grafana sends it."""
    influxdb1.query("CREATE DATABASE forestall")
    store = InfluxStore(influx(influxdb1.url, api="v1"), tmp_path / "spool.sqlite")
    events = [  # (id, customer, segment, kind, at): two at one instant, and another tenant's
        (1, "c1", "key", "ended", NOW),
        (2, "c2", "standard", "downgraded", NOW + 10),
        (3, "c2", "standard", "downgraded", NOW + 10),
    ]
    points = [
        point
        for event_id, customer, segment, kind, at in events
        for point in event_points(event_id, "contract", "acme", customer, None, at, {"kind": kind}, segment)
    ]
    points += event_points(4, "contract", "globex", "c1", None, NOW, {"kind": "ended"}, "key")
    try:
        store.write_points(points)
        assert store.flush(timeout=60)
    finally:
        store.close()
    span = (NOW - 60, NOW + 60)
    rows = influxdb1.rows(as_grafana_sends(QUERIES["CONTRACTS"].text, span, "10000d", tenant="acme"))
    assert {(r["customer"], r["segment"], r["kind"]): r["contracts"] for r in rows} == {
        ("c1", "key", "ended"): 1.0,
        ("c2", "standard", "downgraded"): 2.0,
    }


def test_the_technicians_plan_is_charted_on_the_experience_and_visits_dashboards(
    tmp_path: Path, influxdb1: InfluxDB1
) -> None:
    """The worker's plan (``Visits.schedule`` on a real state DB: one technician, two visits, one
    waiting for capacity) written to InfluxDB 1.6 (v1), read back as Grafana sends the panels."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    with sessions.begin() as session:
        session.add(Customer(tenant="acme", id="c1", name="Acme", segment="key", sla_tier="gold",
                             visit_sensitivity=0.2, created_at=NOW))  # fmt: skip
        session.add(Technician(tenant="acme", id="tech-1", name="Ana", skills=["pump"], regions=["north"],
                               timezone="UTC", hours={day: [["00:00", "04:00"]] for day in WEEKDAYS},
                               active=True, created_at=NOW))  # fmt: skip
        for n, (confidence, failure_h) in enumerate(((0.9, 3.5), (0.75, 3.5)), start=1):
            session.add(Asset(tenant="acme", id=f"p{n}", customer_id="c1", asset_type="pump", site="north",
                              criticality=3, safety_critical=False, created_at=NOW))  # fmt: skip
            session.add(Recommendation(
                id=f"rec-{n}", tenant="acme", customer_id="c1", site="north", asset_ids=[f"p{n}"],
                status="open", priority="P2", priority_score=0.5, reason={},
                predicted_failure_at=DAY0 + failure_h * 3600,
                confidence=confidence, window_start=DAY0, window_end=DAY0 + 3600, sla_due_at=DAY0 + 8 * 3600,
                fits_sla=False, risk_index=40.0, created_at=DAY0, updated_at=DAY0,
            ))  # fmt: skip
    with sessions.begin() as session:
        points = Visits(Predictor(), PlannerPolicy()).schedule(session, "acme", DAY0)
    assert sorted(p.measurement for p in points) == ["capacity", "visit_capacity", "visit_capacity"]
    store = InfluxStore(influx(influxdb1.url, api="v1"), tmp_path / "spool.sqlite")
    influxdb1.query("CREATE DATABASE forestall")
    try:
        store.write_points(points)
        assert store.flush(timeout=60)
    finally:
        store.close()
    span = (DAY0 - 60, DAY0 + 60)
    [plan] = influxdb1.rows(as_grafana_sends(QUERIES["CAPACITY_WAITING"].text, span, "10000d", tenant="acme"))
    assert (plan["waiting"], plan["booked"]) == (1.0, 1.0)
    rows = influxdb1.rows(
        as_grafana_sends(QUERIES["VISITS_WAITING"].text, span, "10000d", tenant="acme", customer="c1")
    )
    by_rec = {r["recommendation"]: r for r in rows}
    assert (by_rec["rec-1"]["overbooked"], by_rec["rec-1"]["rank"], by_rec["rec-1"]["start_in_hours"]) == (
        0,
        1,
        0,
    )
    assert (by_rec["rec-2"]["overbooked"], by_rec["rec-2"]["rank"]) == (1.0, 2.0)
    assert by_rec["rec-2"]["start_in_hours"] == 24.0  # the next night's shift: after its failure
    assert by_rec["rec-1"]["harm"] > by_rec["rec-2"]["harm"] > 0
