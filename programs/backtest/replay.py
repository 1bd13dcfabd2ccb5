"""``forestall backtest fleet``: a run-to-failure history replayed as a live fleet.

"How would Forestall have done on my history?" The history's readings are published over MQTT
(the embedded broker unless ``mqtt_url`` names another) to a real worker (ingest, predictor,
planner, state DB), as fast as the worker stores them; the assets and their customers are
created through the API, and each failure is posted to ``POST /v1/maintenance-events`` when the
replay reaches it — only once every reading before it has been stored, so a label never
overtakes the data it labels, on a fast machine or a slow one (``labels_early`` posts it at
once, to show that early labels do no harm). After a failure the asset is repaired (a repair
event) before its next reading. The recommendations the worker opened are scored against the
failures (``FleetHistory.score``) and its failure probabilities against what happened (Brier).
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import orjson
import paho.mqtt.client as mqtt
from sqlalchemy import func, select

from api.server import ApiServer
from forestall.broker import EmbeddedBroker, free_port
from forestall.contract import format_ts
from forestall.mqttclient import make_client
from forestall.mqtturl import parse_mqtt_url
from forestall.settings import Settings, in_one_process, load_settings
from forestall.state.db import make_engine, make_sessionmaker, upgrade
from forestall.state.keys import create_key
from forestall.state.models import Event, Recommendation
from forestall.vocab import DEFAULT_KIND
from ingest.worker import Worker
from predictor.models import HORIZON_S
from programs.backtest.history import FleetHistory
from simulators.apiclient import ApiClient, with_retries

TENANT = "backtest"
CUSTOMERS = 6  # assets without a customer in the manifest are spread over this many, as fleet_live.py does
STORED_PATIENCE_S = 120.0  # the worker stored nothing new for this long: something is wrong
INFLIGHT = 1000


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    lead_min_hours: float = 2.0
    lead_max_hours: float = 96.0
    labels_early: bool = False
    batch: int = 12  # readings per telemetry message, per asset
    timeline: Path | None = None
    data_dir: Path | None = None
    mqtt_url: str | None = None
    config: Path | None = None


class ReplayError(RuntimeError):
    """The replay could not go on (the worker stopped storing, the broker refused, …)."""


class FleetReplay:
    def __init__(self, history: FleetHistory, options: ReplayOptions, err: TextIO | None = None) -> None:
        if options.batch < 1:
            raise ValueError("--batch must be at least 1")
        if not 0 <= options.lead_min_hours < options.lead_max_hours:
            raise ValueError("need 0 <= --lead-min-hours < --lead-max-hours")
        self.history = history
        self.options = options
        self.err = err or sys.stderr
        self.data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="forestall-replay-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.published = 0
        self._started: list[Any] = []
        self._inflight: list[mqtt.MQTTMessageInfo] = []
        self._seq: dict[str, int] = {}
        self._last_progress = 0.0

    # -- wiring -----------------------------------------------------------------------------

    def settings(self, mqtt_url: str) -> Settings:
        """Everything in ``data_dir``; history is kept (no retention) and nobody goes offline."""
        base = in_one_process(
            load_settings(self.options.config), self.data_dir, mqtt_url, free_port(), keep_days=36500.0
        )
        return base.model_copy(update={"worker": base.worker.model_copy(update={"offline_after_s": None})})

    def run(self) -> dict[str, Any]:
        try:
            mqtt_url = self.options.mqtt_url
            if mqtt_url is None:
                broker = EmbeddedBroker()
                broker.start()
                self._started.append(broker)
                mqtt_url = broker.url
            settings = self.settings(mqtt_url)
            upgrade(settings.database_url)
            key = self._admin_key(settings)
            api = ApiServer(settings, deliver_webhooks=False)
            api.start()
            self._started.append(api)
            worker = Worker(settings)
            worker.start()
            self._started.append(worker)
            if not worker.subscribed.wait(60):
                raise ReplayError(f"the worker did not subscribe to {mqtt_url}")
            client = ApiClient(api.url, key, timeout=60.0)
            publisher = self._publisher(mqtt_url)
            self._register(client)
            started = time.monotonic()
            self._replay(client, publisher, worker)
            elapsed = time.monotonic() - started
            self._drain(worker, settings)
            publisher.loop_stop()
            publisher.disconnect()
            client.close()
            return self._results(settings, worker, elapsed)
        finally:
            self._shutdown()

    def _admin_key(self, settings: Settings) -> str:
        engine = make_engine(settings.database_url)
        with make_sessionmaker(engine).begin() as session:
            key = create_key(session, TENANT, "admin", "backtest fleet")
        engine.dispose()
        return key

    def _publisher(self, url: str) -> mqtt.Client:
        endpoint = parse_mqtt_url(url)
        client: mqtt.Client = make_client(url, f"forestall-replay-{time.time_ns()}")
        client.max_inflight_messages_set(INFLIGHT)
        client.max_queued_messages_set(0)
        client.connect(endpoint.host, endpoint.port)
        client.loop_start()
        return client

    def _register(self, client: Any) -> None:
        customers = {self._customer(a.asset, a.customer) for a in self.history.assets}
        for customer in sorted(customers):
            client.upsert_customer(customer, f"Customer {customer}", "standard", "gold", 0.3)
        for asset in self.history.assets:
            customer = self._customer(asset.asset, asset.customer)
            # Each asset at its own site unless told otherwise: bundling would blur the per-asset score.
            client.upsert_asset(asset.asset, customer, asset.asset_type, asset.site or asset.asset, 3, False)

    @staticmethod
    def _customer(asset: str, customer: str | None) -> str:
        return customer or f"cust-{zlib.crc32(asset.encode()) % CUSTOMERS}"

    # -- the replay -------------------------------------------------------------------------

    @staticmethod
    def _post_event(client: Any, asset: str, kind: str, at: float) -> None:
        # The state DB may be busy with a large chunk of the worker's: a 503 says retry.
        with_retries(lambda: client.post_maintenance_event(asset, kind, at), attempts=8, backoff_s=0.5)

    def _replay(self, client: Any, publisher: mqtt.Client, worker: Any) -> None:
        pending: dict[str, list[tuple[float, dict[str, float]]]] = {}
        failures_posted = 0
        for kind, ts, asset, values in self.history.events():
            if kind == "reading":
                assert values is not None
                batch = pending.setdefault(asset, [])
                batch.append((ts, values))
                if len(batch) >= self.options.batch:
                    self._publish(publisher, asset, pending.pop(asset))
            elif kind == "failure":
                for other in list(pending):
                    self._publish(publisher, other, pending.pop(other))
                if not self.options.labels_early:
                    self._wait_stored(worker)  # every reading before the failure is stored first
                self._post_event(client, asset, "failure", ts)
                failures_posted += 1
            else:
                self._post_event(client, asset, "repair", ts)
            self._progress(ts, worker, failures_posted)
        for other in list(pending):
            self._publish(publisher, other, pending.pop(other))
        self._wait_stored(worker)

    def _publish(
        self, publisher: mqtt.Client, asset: str, batch: list[tuple[float, dict[str, float]]]
    ) -> None:
        seq = self._seq[asset] = self._seq.get(asset, 0) + 1
        payload = orjson.dumps(
            {
                "schema": "forestall.telemetry/1",
                "asset": asset,
                "seq": seq,
                "samples": [{"ts": ts, "values": values} for ts, values in batch],
            }
        )
        info = publisher.publish(f"forestall/v1/{TENANT}/{asset}/telemetry", payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ReplayError(f"publish refused: {mqtt.error_string(info.rc)}")
        self._inflight.append(info)
        self.published += len(batch)
        if len(self._inflight) >= INFLIGHT // 2:
            self._acknowledged()

    def _acknowledged(self) -> None:
        for info in self._inflight:
            info.wait_for_publish(timeout=60)
            if not info.is_published():
                raise ReplayError("the broker did not acknowledge a telemetry message within 60 s")
        self._inflight.clear()

    def _wait_stored(self, worker: Any) -> None:
        """Until the worker has stored every reading published so far."""
        self._acknowledged()
        last, since = -1, time.monotonic()
        while worker.applier.samples_stored < self.published:
            stored = worker.applier.samples_stored
            if stored != last:
                last, since = stored, time.monotonic()
            elif time.monotonic() - since > STORED_PATIENCE_S:
                raise ReplayError(f"the worker stored {stored} of {self.published} readings and stopped")
            time.sleep(0.005)

    def _drain(self, worker: Any, settings: Settings) -> None:
        """Let the worker read the last labels and plan on them."""
        engine = make_engine(settings.database_url)
        with make_sessionmaker(engine)() as session:
            newest = session.scalar(select(func.max(Event.id))) or 0
        engine.dispose()
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline:
            predictor = worker.predictor
            if predictor is None or predictor.predictor.event_cursor >= newest:
                break
            time.sleep(0.05)
        time.sleep(0.5)  # the chunk that read them commits

    def _progress(self, ts: float, worker: Any, failures: int) -> None:
        now = time.monotonic()
        if now - self._last_progress < 1.0:
            return
        self._last_progress = now
        line = (
            f"event time {format_ts(ts)[:16]}  published {self.published:,}  "
            f"stored {worker.applier.samples_stored:,}  failures posted {failures}/{self.history.failures}"
        )
        if self.err.isatty():
            self.err.write("\r" + line.ljust(110))
            self.err.flush()
        else:
            print(line, file=self.err, flush=True)

    # -- results ----------------------------------------------------------------------------

    def _results(self, settings: Settings, worker: Any, elapsed: float) -> dict[str, Any]:
        if self.err.isatty():
            self.err.write("\n")
        engine = make_engine(settings.database_url)
        with make_sessionmaker(engine)() as session:
            rows = session.scalars(select(Recommendation).where(Recommendation.tenant == TENANT)).all()
            # only failure visits are scored (as the outside checks do); sensor checks are counted apart
            failures = [rec for rec in rows if rec.kind == DEFAULT_KIND]
            recommendations = sorted((asset, rec.created_at) for rec in failures for asset in rec.asset_ids)
            sensor_checks = len(rows) - len(failures)
        engine.dispose()
        horizon_h = _horizon_hours()
        health = self._health(worker)
        result: dict[str, Any] = {
            "backtest": "fleet",
            "assets": len(self.history.assets),
            "labels_early": self.options.labels_early,
            "lead_window_hours": [self.options.lead_min_hours, self.options.lead_max_hours],
            **self.history.score(recommendations, self.options.lead_min_hours, self.options.lead_max_hours),
            "sensor_checks": sensor_checks,
        }
        brier = self.history.brier([(a, at, p) for a, at, p, *_ in health], horizon_h)
        stored = worker.applier.samples_stored
        result.update(
            {
                "brier": brier["brier"],
                "horizon_hours": horizon_h,
                "reliability": brier["reliability"],
                "samples_stored": stored,
                "samples_per_s": round(stored / elapsed, 1) if elapsed > 0 else None,
                "seconds": round(elapsed, 1),
                "model_version": worker.predictor.predictor.version if worker.predictor else None,
            }
        )
        if self.options.timeline is not None:
            self._timeline(self.options.timeline, health, recommendations)
            result["timeline"] = str(self.options.timeline)
        return result

    def _health(
        self, worker: Any
    ) -> list[tuple[str, float, float, float | None, float | None, float | None]]:
        """Every stored health point: (asset, at, failure probability, ttf, its low and high bounds)."""
        out = []
        for asset in self.history.assets:
            for point in worker.store.query_points("asset_health", TENANT, asset.asset, -1e18, 1e18, 10**9):
                f = point.fields
                out.append(
                    (
                        asset.asset,
                        point.ts,
                        float(f.get("failure_probability", 0.0)),
                        f.get("ttf_hours"),
                        f.get("ttf_low_hours"),
                        f.get("ttf_high_hours"),
                    )
                )
        return out

    def _timeline(self, path: Path, health: list[Any], recommendations: list[tuple[str, float]]) -> None:
        rows: list[tuple[str, float, str, Any, Any, Any, Any]] = []
        rows += [(a, at, "health", p, ttf, low, high) for a, at, p, ttf, low, high in health]
        rows += [(a, at, "recommendation", "", "", "", "") for a, at in recommendations]
        rows += [(a.asset, t, "failure", "", "", "", "") for a in self.history.assets for t in a.failures]
        rows.sort(key=lambda r: (r[0], r[1]))
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                [
                    "asset",
                    "ts",
                    "event",
                    "failure_probability",
                    "ttf_hours",
                    "ttf_low_hours",
                    "ttf_high_hours",
                ]
            )
            for asset, at, event, *values in rows:
                writer.writerow([asset, format_ts(at), event, *(_cell(v) for v in values)])

    def _shutdown(self) -> None:
        for part in reversed(self._started):
            try:
                part.stop()
            except Exception as exc:  # keep stopping the rest; report what failed
                print(f"while stopping {type(part).__name__}: {exc}", file=self.err, flush=True)
        self._started.clear()


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _horizon_hours() -> float:
    return HORIZON_S / 3600.0


def to_json(result: dict[str, Any]) -> str:
    return orjson.dumps(result).decode()
