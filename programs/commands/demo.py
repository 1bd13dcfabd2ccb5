"""``forestall demo``: the whole loop in one process, nothing but Python needed."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

from programs.commands.common import add_world_arguments, world_from


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole loop on embedded defaults (broker, fleet, worker, API, FSM)",
        description="Runs an embedded MQTT broker, a simulated fleet with real edge agents, the worker, "
        "the API with the dispatcher board and an FSM simulator, on an accelerated event clock. "
        "Prints the admin API key, progress on stderr and, on exit, one JSON line of figures.",
    )
    parser.add_argument(
        "--seconds", type=float, default=None, help="stop after N wall seconds (default: Ctrl-C)"
    )
    parser.add_argument("--speed", type=float, default=3600.0, help="simulated seconds per wall second")
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--customers", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--mqtt-port", type=int, default=None, help="default: a free port")
    parser.add_argument("--data-dir", type=Path, default=None, help="default: a new temporary directory")
    parser.add_argument("--webhook-url", default=None, help="also deliver the signed webhooks here")
    parser.add_argument("--webhook-secret", default=None, help="whsec_… secret for --webhook-url")
    parser.add_argument(
        "--world",
        type=Path,
        default=None,
        metavar="FILE",
        help="a world file: how customers react, the technicians (simulators/worlds; default: default.toml)",
    )
    add_world_arguments(parser)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML settings (e.g. webhook retry policy); the demo sets its own broker, DB and store",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from programs.demo import Demo, DemoOptions

    if args.assets < 1 or args.customers < 1:
        raise ValueError("--assets and --customers must be at least 1")
    sensor_faults, conditions = world_from(args)
    demo = Demo(
        DemoOptions(
            seconds=args.seconds,
            speed=args.speed,
            assets=args.assets,
            customers=args.customers,
            seed=args.seed,
            api_port=args.api_port,
            mqtt_port=args.mqtt_port,
            data_dir=args.data_dir,
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
            config=args.config,
            sensor_faults=sensor_faults,
            conditions=conditions,
            world=args.world,
        )
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: demo.stop_event.set())
    demo.run()
    return 0
