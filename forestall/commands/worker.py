"""``forestall worker``: ingest + predictor for this worker's partition of the assets."""

from __future__ import annotations

import argparse
import signal
import threading
import time

from forestall.commands.common import add_config_argument, settings_from


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "worker", help="run ingest and the predictor (MQTT → store → models → visits)"
    )
    add_config_argument(parser)
    parser.add_argument("--no-predictor", action="store_true", help="ingest only (e.g. for benchmarks)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from forestall.state.db import upgrade
    from ingest.worker import Worker

    settings = settings_from(args)
    upgrade(settings.database_url)
    worker = Worker(settings, predictor_enabled=not args.no_predictor)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    print(f"worker {worker.name} consuming {settings.mqtt.url}; Ctrl-C to stop", flush=True)
    last = time.monotonic()
    while not stop.wait(1.0):
        if time.monotonic() - last >= 30:
            last = time.monotonic()
            print(f"worker {worker.name}: {worker.applier.samples_stored} samples stored", flush=True)
    worker.stop()
    return 0
