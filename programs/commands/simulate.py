"""``forestall simulate fleet|fsm|history``: the simulated world, the FSM system, run-to-failure histories."""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import json
import math
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forestall.clock import CatchUpClock, SimClock
from forestall.contract import format_ts, parse_ts
from programs.commands.common import add_config_argument, add_world_arguments, settings_from, world_from

if TYPE_CHECKING:
    from simulators.dispatch import FsmStats
    from simulators.fleet import Fleet

PROGRESS_EVERY_S = 5.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("simulate", help="run the simulated fleet or the simulated FSM system")
    sim_sub = parser.add_subparsers(dest="simulate_command", metavar="WHAT", required=True)
    _register_fleet(sim_sub)
    _register_fsm(sim_sub)
    _register_history(sim_sub)


def _register_history(sim_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = sim_sub.add_parser(
        "history",
        help="write a run-to-failure history of unknown equipment for `forestall backtest fleet`",
        description="A fleet of one equipment type with random sensors that degrades from installation, "
        "in the `backtest fleet` layout (manifest.json and one CSV per asset).",
    )
    history.add_argument("--out", type=Path, required=True, metavar="DIR")
    history.add_argument("--assets", type=int, default=6)
    history.add_argument(
        "--two-lives", type=int, default=1, help="assets that fail, are repaired, fail again"
    )
    history.add_argument("--censored", type=int, default=1, help="assets whose record ends before a failure")
    history.add_argument("--seed", type=int, default=1)
    history.set_defaults(handler=_write_history)


def _write_history(args: argparse.Namespace) -> int:
    from simulators.histories import generate_fleet

    fleet = generate_fleet(args.seed, assets=args.assets, two_lives=args.two_lives, censored=args.censored)
    fleet.write(args.out)
    failures = sum(len(a.failures) for a in fleet.assets)
    readings = sum(len(a.rows) for a in fleet.assets)
    print(f"{len(fleet.assets)} assets of {fleet.asset_type}: {readings} readings, {failures} failures")
    return 0


def _register_fleet(sim_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fleet = sim_sub.add_parser(
        "fleet",
        help="simulated customers and machines behind real edge agents",
        description="Register a simulated fleet through the API and run it: one edge agent per machine "
        "publishes to the MQTT broker of the settings (or --mqtt-url). Prints progress, then the world "
        "metrics as one JSON line.",
    )
    _api_arguments(fleet, "an admin key of the tenant (registers customers and assets)")
    fleet.add_argument("--assets", type=int, default=50)
    fleet.add_argument("--customers", type=int, default=10)
    fleet.add_argument("--seed", type=int, default=7)
    fleet.add_argument("--speed", type=float, default=3600.0, help="simulated seconds per wall second")
    fleet.add_argument("--seconds", type=float, default=None, help="stop after this many wall seconds")
    fleet.add_argument("--tenant", default="demo")
    fleet.add_argument("--data-dir", type=Path, default=Path("forestall-sim-data"), help="edge agent buffers")
    fleet.add_argument("--mqtt-url", default=None, help="overrides the settings' mqtt.url")
    fleet.add_argument("--start", default=None, help="event time to start at, RFC 3339 (default: now)")
    fleet.add_argument(
        "--behind",
        type=float,
        default=None,
        metavar="HOURS",
        help="start this many hours before now and run at --speed until the wall clock is reached, then "
        "with it: no reading in the future, so dashboards that read up to now show them",
    )
    fleet.add_argument("--sample-interval", type=float, default=600.0, help="event seconds between samples")
    fleet.add_argument(
        "--world",
        type=Path,
        default=None,
        metavar="FILE",
        help="a world file: how customers react, and the technicians it registers (simulators/worlds; "
        "default: default.toml, no technicians registered)",
    )
    add_world_arguments(fleet)
    add_config_argument(fleet)
    fleet.set_defaults(handler=_run_fleet)


def _register_fsm(sim_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fsm = sim_sub.add_parser(
        "fsm",
        help="a simulated FSM system that receives webhooks and sends technicians",
        description="Serve webhooks (verified with standardwebhooks), accept and schedule recommended "
        "visits through the API and send technicians into the simulated world over MQTT.",
    )
    _api_arguments(fsm, "an fsm key of the tenant (admin for --subscribe)")
    fsm.add_argument("--webhook-secret", default=None, help="whsec_… (generated when --subscribe is given)")
    fsm.add_argument("--host", default="127.0.0.1")
    fsm.add_argument("--port", type=int, default=0, help="webhook port (default: a free one)")
    fsm.add_argument("--tenant", default="demo")
    fsm.add_argument("--mqtt-url", default=None, help="overrides the settings' mqtt.url")
    fsm.add_argument("--subscribe", action="store_true", help="create our webhook subscription via the API")
    fsm.add_argument("--seconds", type=float, default=None, help="stop after this many wall seconds")
    fsm.add_argument(
        "--world",
        type=Path,
        default=None,
        metavar="FILE",
        help="send the world file's technicians, few and in working hours (default: one leaves for every "
        "request at once); give the fleet's --seed and --world too",
    )
    fsm.add_argument("--seed", type=int, default=7, help="with --world: the fleet's seed (where sites lie)")
    add_config_argument(fsm)
    fsm.set_defaults(handler=_run_fsm)


def _api_arguments(parser: argparse.ArgumentParser, key_help: str) -> None:
    parser.add_argument("--api-url", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--api-key", required=True, help=key_help)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM/SIGINT, so the loop ends cleanly and still prints its summary."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _loop(seconds: float | None, tick: Callable[[], None], report: Callable[[], str]) -> None:
    with _stop_on_signals() as stop:
        began = last = time.monotonic()
        while not stop.is_set() and (seconds is None or time.monotonic() - began < seconds):
            tick()
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                last = time.monotonic()
                print(report(), file=sys.stderr, flush=True)
            stop.wait(0.1)


def _run_fleet(args: argparse.Namespace) -> int:
    from simulators.crew import crew_from_world
    from simulators.fleet import Fleet, FleetSpec
    from simulators.fsm import register_technicians
    from simulators.world import with_conditions
    from simulators.worlds import load_world

    settings = settings_from(args)
    sensor_faults, conditions = world_from(args)
    if args.behind is not None and args.start:
        raise ValueError("--behind and --start are two ways to say where to start: give one")
    if args.behind is not None:
        clock: SimClock = CatchUpClock(behind=args.behind * 3600.0, speed=args.speed)
    else:
        start = parse_ts(args.start) if args.start else math.floor(time.time() / 3600.0) * 3600.0
        clock = SimClock(start=start, speed=args.speed)
    start = clock.start
    spec = FleetSpec(
        tenant=args.tenant,
        assets=args.assets,
        customers=args.customers,
        seed=args.seed,
        sample_interval_s=args.sample_interval,
        sensor_fault_share=sensor_faults,
    )
    spec = with_conditions(spec, conditions)
    world = load_world(args.world) if args.world else None
    fleet = Fleet(
        spec,
        clock,
        api_url=args.api_url,
        api_key=args.api_key,
        mqtt_url=args.mqtt_url or settings.mqtt.url,
        data_dir=args.data_dir,
        start=start,
        world=world,
    )
    print(
        f"registering {spec.customers} customers and {spec.assets} assets at {args.api_url}", file=sys.stderr
    )
    try:
        if world is not None:
            crew = crew_from_world(world.technicians, args.seed, skills=spec.asset_types)
            print(f"registering {len(crew.technicians)} technicians", file=sys.stderr)
            register_technicians(fleet.api, crew, {a.site for a in fleet.world.assets})
        fleet.start()
        _loop(args.seconds, fleet.step, lambda: _fleet_line(fleet))
    finally:
        fleet.stop()
    print(json.dumps(fleet.metrics.as_dict(), sort_keys=True), flush=True)
    return 0


def _fleet_line(fleet: Fleet) -> str:
    m = fleet.metrics
    return (
        f"{format_ts(fleet.now)}  samples {m.samples_published}  failures {m.failures_occurred}  "
        f"prevented {m.failures_prevented}  false visits {m.false_visits}  "
        f"visits {m.visits_completed}+{m.corrective_visits} corrective"
    )


def _run_fsm(args: argparse.Namespace) -> int:
    from simulators.apiclient import ApiClient
    from simulators.crew import crew_from_world
    from simulators.fsm import FsmSimulator
    from simulators.worlds import load_world

    settings = settings_from(args)
    secret: str | None = args.webhook_secret
    if secret is None:
        if not args.subscribe:
            raise ValueError("--webhook-secret is required unless --subscribe creates the subscription")
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    # Without a clock of the fleet's, the crew works to the latest event time the FSM heard of.
    crew = crew_from_world(load_world(args.world).technicians, args.seed) if args.world else None
    fsm = FsmSimulator(
        args.api_url,
        args.api_key,
        args.mqtt_url or settings.mqtt.url,
        args.tenant,
        secret,
        host=args.host,
        port=args.port,
        crew=crew,
    )
    fsm.start()
    try:
        print(f"FSM simulator receiving webhooks at {fsm.url}", file=sys.stderr, flush=True)
        if args.subscribe:
            api = ApiClient(args.api_url, args.api_key)
            try:
                created: Any = api.create_webhook(fsm.url, secret)
            finally:
                api.close()
            subscription = created.get("id") if isinstance(created, dict) else created
            print(f"subscribed: {subscription}", file=sys.stderr, flush=True)
        _loop(args.seconds, lambda: None, lambda: _fsm_line(fsm.stats))
    finally:
        fsm.stop()
    print(json.dumps(_fsm_stats(fsm.stats), sort_keys=True), flush=True)
    return 0


def _fsm_stats(stats: FsmStats) -> dict[str, Any]:
    return dataclasses.asdict(stats)


def _fsm_line(stats: FsmStats) -> str:
    return "  ".join(f"{k} {v}" for k, v in _fsm_stats(stats).items() if v)
