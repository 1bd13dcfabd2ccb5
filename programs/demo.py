"""``forestall demo``: the whole loop in one process on embedded defaults.

An embedded MQTT broker, a simulated fleet whose devices run the real edge agent, the worker
(ingest + predictor), the API with webhook delivery, and an FSM simulator that receives the
signed webhooks and sends technicians — all on one accelerated event clock.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select

from api.server import ApiServer
from api.webhooks.egress import networks_of
from forestall.broker import EmbeddedBroker, free_port
from forestall.clock import SimClock
from forestall.contract import format_ts
from forestall.settings import Settings, in_one_process, load_settings
from forestall.state.db import make_engine, make_sessionmaker, upgrade
from forestall.state.keys import create_key
from forestall.state.models import Recommendation, WebhookDelivery
from forestall.vocab import DEFAULT_KIND
from ingest.worker import Worker
from simulators.apiclient import ApiClient
from simulators.crew import crew_from_world
from simulators.fleet import Fleet, FleetSpec
from simulators.fsm import FsmSimulator, register_technicians
from simulators.operating import HARDER, Conditions
from simulators.physics import DEMO_DEGRADATION_HOURS
from simulators.world import with_conditions
from simulators.worlds import WorldFile, default_world, load_world

TENANT = "demo"
DRAIN_SECONDS = 5.0  # after the fleet stops: let the worker, webhooks and technicians catch up

DEMO_SENSOR_FAULT_HOURS = (24.0, 60.0)  # the broken sensors' onsets: within a demo's first days


@dataclass(frozen=True, slots=True)
class DemoOptions:
    seconds: float | None = None
    speed: float = 3600.0
    assets: int = 50
    customers: int = 10
    seed: int = 7
    api_port: int = 8000
    mqtt_port: int | None = None
    data_dir: Path | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    config: Path | None = None
    sensor_faults: float = 0.1  # share of assets with a broken sensor (each kind in turn)
    world: Path | None = None  # a world file (simulators/worlds); None: default.toml
    conditions: Conditions = HARDER  # how hard the world is to read (simulators/operating.py)


def new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


class Demo:
    def __init__(self, options: DemoOptions, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        if options.webhook_url and not options.webhook_secret:
            raise ValueError("--webhook-url needs --webhook-secret whsec_…")
        if options.webhook_secret and not options.webhook_secret.startswith("whsec_"):
            raise ValueError("--webhook-secret must start with whsec_")
        if options.speed <= 0:
            raise ValueError("--speed must be positive")
        self.options = options
        self.world: WorldFile = load_world(options.world) if options.world else default_world()
        self.out, self.err = out, err
        # A folder of the user's is kept; a temporary one is removed on exit (said at start and end).
        self.keep_data = options.data_dir is not None
        self.data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="forestall-demo-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stop_event = threading.Event()
        self._started: list[Any] = []

    def settings(self, mqtt_url: str) -> Settings:
        """The demo's own broker, state DB and store; everything else from ``--config``/defaults."""
        url = self.options.webhook_url
        return in_one_process(
            load_settings(self.options.config),
            self.data_dir,
            mqtt_url,
            self.options.api_port,
            also_allow=networks_of(url) if url else (),
        )

    def run(self) -> dict[str, Any]:
        """The loop until ``--seconds`` or a stop; the summary is printed last on ``out``."""
        try:
            return self._run()
        finally:
            self._shutdown()  # what a failed start left running
            self._remove_data()

    def _run(self) -> dict[str, Any]:
        opts = self.options
        broker = EmbeddedBroker(port=opts.mqtt_port)
        broker.start()
        self._started.append(broker)
        settings = self.settings(broker.url)
        upgrade(settings.database_url)
        admin_key, fsm_key = self._create_keys(settings)
        api_url = f"http://127.0.0.1:{opts.api_port}"
        kept = "kept" if self.keep_data else "a temporary folder, removed on exit; --data-dir DIR keeps it"
        self._say(f"Forestall demo — data in {self.data_dir} ({kept})")
        self._say(f"API docs: {api_url}/docs   MQTT: {broker.url}")
        print(f"admin API key: {admin_key}", file=self.out, flush=True)
        print(f"board: {api_url}/?key={admin_key}", file=self.out, flush=True)

        api = ApiServer(settings)
        api.start()
        self._started.append(api)
        worker = Worker(settings)
        worker.start()
        self._started.append(worker)
        clock = SimClock(start=time.time(), speed=opts.speed)
        # Faults compressed to one to three days, so a few minutes of demo show several.
        spec = FleetSpec(
            tenant=TENANT,
            assets=opts.assets,
            customers=opts.customers,
            seed=opts.seed,
            degradation_hours=DEMO_DEGRADATION_HOURS,
            sensor_fault_share=opts.sensor_faults,
            sensor_fault_hours=DEMO_SENSOR_FAULT_HOURS,
        )
        spec = with_conditions(spec, opts.conditions)
        fleet = Fleet(
            spec,
            clock,
            api_url=api_url,
            api_key=admin_key,
            mqtt_url=broker.url,
            data_dir=self.data_dir / "edge",
            world=self.world,
        )
        # The world file's technicians: few, with working hours and travel, registered by the admin.
        crew = crew_from_world(self.world.technicians, opts.seed, skills=spec.asset_types)
        fsm_secret = new_webhook_secret()
        fsm = FsmSimulator(
            api_url,
            fsm_key,
            broker.url,
            TENANT,
            fsm_secret,
            port=free_port(),
            seed=opts.seed,
            crew=crew,
            clock=clock,
        )
        fsm.start()
        self._started.append(fsm)
        admin = ApiClient(api_url, admin_key)
        register_technicians(admin, crew, {a.site for a in fleet.world.assets})
        admin.create_webhook(fsm.url, fsm_secret)
        if opts.webhook_url and opts.webhook_secret:
            admin.create_webhook(opts.webhook_url, opts.webhook_secret)
        admin.close()
        fleet.start()
        self._started.append(fleet)
        try:
            self._loop(fleet, worker, clock)
        finally:
            fleet.stop()
            self._drain(fsm, fleet, worker)
            summary = self._summary(settings, fleet, worker, fsm)
            self._shutdown()
        print(json.dumps(summary), file=self.out, flush=True)
        return summary

    def _create_keys(self, settings: Settings) -> tuple[str, str]:
        engine = make_engine(settings.database_url)
        with make_sessionmaker(engine).begin() as session:
            admin = create_key(session, TENANT, "admin", "demo admin")
            fsm = create_key(session, TENANT, "fsm", "demo FSM simulator")
        engine.dispose()
        return admin, fsm

    def _loop(self, fleet: Any, worker: Any, clock: SimClock) -> None:
        started = time.monotonic()
        last_progress = 0.0
        while not self.stop_event.is_set():
            elapsed = time.monotonic() - started
            if self.options.seconds is not None and elapsed >= self.options.seconds:
                break
            fleet.step(clock.now())
            if elapsed - last_progress >= 1.0:
                last_progress = elapsed
                self._progress(elapsed, clock, fleet, worker)
            self.stop_event.wait(0.05)
        if self.err.isatty():
            self.err.write("\n")

    def _progress(self, elapsed: float, clock: SimClock, fleet: Any, worker: Any) -> None:
        m = fleet.metrics
        line = (
            f"{elapsed:5.0f}s  sim {format_ts(clock.now())[:16]}  published {m.samples_published:,}  "
            f"stored {worker.applier.samples_stored:,}  failures {m.failures_occurred}  "
            f"prevented {m.failures_prevented}  false visits {m.false_visits}"
        )
        if self.err.isatty():
            self.err.write("\r" + line.ljust(120))
            self.err.flush()
        elif int(elapsed) % 10 == 0:
            print(line, file=self.err, flush=True)

    def _drain(self, fsm: Any, fleet: Any, worker: Any) -> None:
        """Give in-flight messages, webhooks and technician reports a moment to land."""
        self._say("stopping: draining in-flight work …")
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            stored = worker.applier.samples_stored >= fleet.metrics.samples_published
            if fsm.wait_idle(timeout=0.5) and stored:
                return
            time.sleep(0.05)

    def _summary(self, settings: Settings, fleet: Any, worker: Any, fsm: Any) -> dict[str, Any]:
        engine = make_engine(settings.database_url)
        with make_sessionmaker(engine)() as session:
            recommendations = session.scalar(
                select(func.count())
                .select_from(Recommendation)
                .where(Recommendation.tenant == TENANT, Recommendation.kind == DEFAULT_KIND)
            )  # failure visits: the sensor checks are counted by the world (sensor_checks)
            delivered = session.scalar(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "delivered")
            )
        engine.dispose()
        m = fleet.metrics
        return {
            "samples_published": m.samples_published,
            "samples_stored": worker.applier.samples_stored,
            "recommendations": int(recommendations or 0),
            "webhooks_delivered": int(delivered or 0),
            "failures_occurred": m.failures_occurred,
            "failures_prevented": m.failures_prevented,
            "false_visits": m.false_visits,
            "visits_completed": m.visits_completed,
            "sensor_checks": m.sensor_checks,
            "sensor_repairs": m.sensor_repairs,
            "technicians": len(fsm.crew.technicians) if fsm.crew is not None else None,
            "visits_waiting": fsm.stats.jobs_waiting,
            "assets": self.options.assets,
            "customers": self.options.customers,
            "simulated_hours": round((fleet.now - fleet.world.start) / 3600.0, 1),
            "data_dir": str(self.data_dir),
            "data_kept": self.keep_data,
        }

    def _remove_data(self) -> None:
        if self.keep_data:
            return
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self._say(f"removed {self.data_dir} (--data-dir DIR keeps the state DB, store and edge buffers)")

    def _shutdown(self) -> None:
        for part in reversed(self._started):
            try:
                part.stop()
            except Exception as exc:  # keep stopping the rest; report what failed
                self._say(f"while stopping {type(part).__name__}: {exc}")
        self._started.clear()

    def _say(self, message: str) -> None:
        print(message, file=self.err, flush=True)
