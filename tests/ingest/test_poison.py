"""One device must never stop the fleet: every poison message is rejected or set aside on its own,
and a valid batch of another asset published after it is stored — on SQLite and on PostgreSQL,
through a real Mosquitto."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import hypothesis.strategies as st
import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select, text

from forestall.contract import Sample, format_ts
from forestall.series import SeriesTags, StoreError
from forestall.settings import Settings
from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.models import EventClock, IngestSequence, Rejection
from ingest.store.embedded import EmbeddedStore
from ingest.worker import Worker
from tests.conftest import Mosquitto
from tests.support import wait_for

NOW = time.time()


def batch(asset: str, seq: int, *stamps: float) -> bytes:
    samples = [{"ts": format_ts(ts), "values": {"t": 1.0}} for ts in stamps or (NOW - 600,)]
    return json.dumps(
        {"schema": "forestall.telemetry/1", "asset": asset, "seq": seq, "samples": samples}
    ).encode()


@dataclass
class Fleet:
    """A worker (ingest only) behind a real Mosquitto, and a device-side publisher."""

    worker: Worker
    client: mqtt.Client
    settings: Settings

    def publish(self, asset: str, kind: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(f"forestall/v1/acme/{asset}/{kind}", payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def stored(self, asset: str) -> int:
        return len(self.worker.store.query_telemetry("acme", asset, 0.0, 4e10))

    def flows(self, asset: str) -> bool:
        """A valid batch of ``asset`` published now is stored."""
        self.publish(asset, "telemetry", batch(asset, 1))
        return wait_for(lambda: self.stored(asset) == 1, timeout=30)

    def rejections(self) -> list[tuple[str, str | None, str]]:
        with make_sessionmaker(make_engine(self.settings.database_url))() as session:
            rows = session.scalars(select(Rejection).order_by(Rejection.id))
            return [(r.reason, r.asset_id, r.excerpt) for r in rows]


def start_fleet(settings: Settings, store: EmbeddedStore | None = None) -> Fleet:
    worker = Worker(settings, predictor_enabled=False, store=store)
    worker.start()
    assert wait_for(worker.subscribed.is_set)
    port = int(settings.mqtt.url.rsplit(":", 1)[1])
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"device-{time.monotonic_ns()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return Fleet(worker, client, settings)


def stop_fleet(fleet: Fleet) -> None:
    fleet.client.loop_stop()
    fleet.client.disconnect()
    fleet.worker.stop()


@pytest.fixture
def fleet_settings(tmp_path: Path, mosquitto: Mosquitto, any_state_db_url: str) -> Settings:
    return Settings(
        database_url=any_state_db_url,
        mqtt={"url": mosquitto.url, "client_id": "forestall-worker-poison"},
        store={"path": str(tmp_path / "tsdb.sqlite")},
        worker={"checkpoint_dir": str(tmp_path / "checkpoints"), "max_future_s": 3600.0},
    )


@pytest.fixture
def fleet(fleet_settings: Settings) -> Iterator[Fleet]:
    running = start_fleet(fleet_settings)
    yield running
    stop_fleet(running)


def test_a_raw_nul_inside_a_json_string_is_rejected_and_kept_with_an_escaped_excerpt(fleet: Fleet) -> None:
    poison = b'{"schema":"forestall.telemetry/1","asset":"p1","seq":1,"samples":[],"note":"a\x00b"}'
    fleet.publish("p1", "telemetry", poison)
    assert fleet.flows("good")
    [(reason, asset, excerpt)] = fleet.rejections()
    assert (reason, asset) == ("malformed_json", "p1")
    assert "\x00" not in excerpt and '"note":"a\\x00b"' in excerpt


@pytest.mark.parametrize("pending", ["NaN", "Infinity", '"abc"', "-1", "1e400", str(2**63)])
def test_a_status_whose_buffer_counts_are_not_counts_is_rejected(fleet: Fleet, pending: str) -> None:
    poison = (
        f'{{"schema":"forestall.status/1","state":"online","agent":"x","buffer":{{"pending":{pending}}}}}'
    )
    fleet.publish("p2", "status", poison.encode())
    assert fleet.flows("good")
    assert [r[:2] for r in fleet.rejections()] == [("schema", "p2")]


def test_a_retained_poison_status_does_not_stop_a_worker_that_starts_after_it(
    fleet_settings: Settings,
) -> None:
    first = start_fleet(fleet_settings)
    poison = b'{"schema":"forestall.status/1","state":"online","agent":"a\\u0000","buffer":{"pending":NaN}}'
    first.publish("p2", "status", poison, retain=True)
    assert wait_for(lambda: len(first.rejections()) == 1)
    stop_fleet(first)
    again = start_fleet(
        fleet_settings.model_copy(
            update={"mqtt": fleet_settings.mqtt.model_copy(update={"client_id": "forestall-worker-fresh"})}
        )
    )  # a new session: the broker sends the retained one
    try:
        assert again.flows("good")
        assert wait_for(lambda: len(again.rejections()) == 2)
    finally:
        again.publish("p2", "status", b"", retain=True)  # clear the retained message
        stop_fleet(again)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"schema":"forestall.ack/1","id":"a\\u0000b","ok":true}',
        b'{"schema":"forestall.ack/1","id":"cmd_1","ok":false,"error":"lone \\ud800 surrogate"}',
        b'{"schema":"forestall.ack/1","id":"' + b"x" * 65 + b'","ok":true}',
    ],
    ids=["nul-id", "surrogate-error", "long-id"],
)
def test_an_ack_with_text_a_database_cannot_hold_is_rejected(fleet: Fleet, payload: bytes) -> None:
    fleet.publish("p3", "ack", payload)
    assert fleet.flows("good")
    assert [r[:2] for r in fleet.rejections()] == [("schema", "p3")]


def test_seq_holds_the_contracts_64_bit_range_and_nothing_beyond(fleet: Fleet) -> None:
    fleet.publish("p4", "telemetry", batch("p4", 2**31, NOW - 60))
    fleet.publish("p5", "telemetry", batch("p5", 2**63 - 1, NOW - 60))
    for seq in (2**63, 10**400):
        fleet.publish("p6", "telemetry", batch("p6", seq, NOW - 60))
    assert fleet.flows("good")
    assert fleet.stored("p4") == 1 and fleet.stored("p5") == 1 and fleet.stored("p6") == 0
    assert [r[:2] for r in fleet.rejections()] == [("schema", "p6")] * 2
    with make_sessionmaker(make_engine(fleet.settings.database_url))() as session:
        assert session.get(IngestSequence, ("acme", "p5")).high_water == 2**63 - 1  # type: ignore[union-attr]


def tenant_clock(fleet: Fleet) -> float | None:
    with make_sessionmaker(make_engine(fleet.settings.database_url))() as session:
        row = session.get(EventClock, "acme")
        return row.now if row else None


def test_a_sample_from_the_far_future_is_rejected_and_the_clock_stays(fleet: Fleet) -> None:
    assert fleet.flows("good")
    before = tenant_clock(fleet)
    fleet.publish("p7", "telemetry", batch("p7", 1, NOW - 30, 32503593600.0))  # 2999-12-31
    assert fleet.flows("good2")
    assert fleet.stored("p7") == 1  # the sample in the present is kept
    [(reason, asset, _)] = fleet.rejections()
    assert (reason, asset) == ("future_ts", "p7")
    clock = tenant_clock(fleet)
    assert before is not None and clock is not None and clock <= time.time()


def test_one_device_alone_cannot_move_a_fleets_clock_past_the_wall_clock(fleet: Fleet) -> None:
    for asset in ("a1", "a2"):
        assert fleet.flows(asset)
    ahead = time.time() + 1800  # within max_future_s: accepted, but one device is not the fleet
    fleet.publish("liar", "telemetry", batch("liar", 1, ahead))
    assert wait_for(lambda: fleet.stored("liar") == 1)
    clock = tenant_clock(fleet)
    assert clock is not None and clock < ahead - 600
    fleet.publish("a1", "telemetry", batch("a1", 2, ahead - 60))  # a second asset gets there too
    assert wait_for(lambda: (tenant_clock(fleet) or 0.0) >= ahead - 61)  # stamps are sent in ms


POISON_TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER poison BEFORE INSERT ON ingest_sequences WHEN NEW.asset_id = 'poison' "
        "BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN IF NEW.asset_id = 'poison' THEN "
        "RAISE EXCEPTION 'poisoned' USING ERRCODE = '22023'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON ingest_sequences "
        "FOR EACH ROW EXECUTE FUNCTION poison()",
    ],
}


def test_a_message_the_database_refuses_is_set_aside_and_the_rest_of_its_chunk_committed(
    fleet_settings: Settings,
) -> None:
    engine = make_engine(fleet_settings.database_url)
    with engine.begin() as connection:
        for statement in POISON_TRIGGERS[engine.dialect.name]:
            connection.execute(text(statement))
    fleet = start_fleet(fleet_settings)
    fleet.worker.stop()  # the broker keeps the worker's session: what follows arrives as one backlog
    try:
        for n in range(40):
            asset = "poison" if n == 17 else f"a{n}"
            fleet.publish(asset, "telemetry", batch(asset, 1, NOW - 100 + n))
        fleet.worker = Worker(fleet_settings, predictor_enabled=False)
        fleet.worker.start()
        assert wait_for(lambda: fleet.worker.applier.samples_stored == 39)
        assert fleet.flows("after")
        assert fleet.worker.store.count_samples("acme") == 40 and fleet.stored("poison") == 0
        # counted once, just after the commit that stored them (so waited for, not raced)
        assert wait_for(lambda: fleet.worker.metrics.samples._value.get() == 40)
        assert [r[:2] for r in fleet.rejections()] == [("unstorable", "poison")]
        assert fleet.worker.metrics.rejected.labels(reason="unstorable")._value.get() == 1
    finally:
        stop_fleet(fleet)


class StoreOutage(EmbeddedStore):
    """The real embedded store, unreachable for its first ``failures`` writes."""

    failures = 3

    def write_batch(self, items: Sequence[tuple[SeriesTags, Sequence[Sample]]]) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreError("store unreachable", retryable=True)
        super().write_batch(items)


def test_a_store_outage_is_retried_in_order_and_nothing_is_counted_twice(fleet_settings: Settings) -> None:
    store = StoreOutage(fleet_settings.store.path)
    fleet = start_fleet(fleet_settings, store=store)
    try:
        for seq in range(1, 6):
            fleet.publish("p8", "telemetry", batch("p8", seq, NOW - 100 + seq))
        assert wait_for(lambda: fleet.stored("p8") == 5)
        assert store.failures == 0 and fleet.rejections() == []
        assert wait_for(lambda: fleet.worker.metrics.samples._value.get() == 5)
        assert fleet.worker.metrics.duplicates._value.get() == 0
    finally:
        stop_fleet(fleet)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
SCHEMAS = st.sampled_from(["forestall.telemetry/1", "forestall.status/1", "forestall.ack/1"])


@st.composite
def hostile_payloads(draw: st.DrawFn) -> bytes:
    """Arbitrary bytes, or JSON objects near the contract's shapes with arbitrary values."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    doc = draw(
        st.dictionaries(
            st.sampled_from(
                ["asset", "seq", "samples", "state", "buffer", "drivers", "agent", "id", "ok", "error", "ts"]
            ),
            JSON,
            max_size=6,
        )
    )
    doc["schema"] = draw(SCHEMAS)
    return json.dumps(doc, allow_nan=True).encode("utf-8", errors="surrogatepass")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["telemetry", "status", "ack"]), payload=hostile_payloads())
def test_no_payload_on_any_topic_stops_another_assets_data(fleet: Fleet, kind: str, payload: bytes) -> None:
    good = f"g{time.monotonic_ns()}"
    fleet.publish("hostile", kind, payload)
    assert fleet.flows(good)


def test_a_flooding_device_is_rate_limited_and_the_others_flow(fleet_settings: Settings) -> None:
    limited = fleet_settings.worker.model_copy(update={"device_rate_per_s": 2.0, "device_burst": 10})
    fleet = start_fleet(fleet_settings.model_copy(update={"worker": limited}))
    try:
        for seq in range(1, 61):
            fleet.publish("flood", "telemetry", batch("flood", seq, NOW - 1000 + seq))
        assert fleet.flows("calm")
        refused = fleet.worker.metrics.rejected.labels(reason="rate_limited")._value.get()
        assert wait_for(lambda: fleet.stored("flood") + refused == 60)
        assert 10 <= fleet.stored("flood") < 30 and refused > 30
        rows = [r for r in fleet.rejections() if r[0] == "rate_limited"]
        assert rows and all(asset == "flood" for _, asset, _ in rows)
    finally:
        stop_fleet(fleet)
