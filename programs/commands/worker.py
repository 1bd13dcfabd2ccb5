"""``forestall worker`` (ingest + predictor for this worker's partition) and ``forestall rebuild``."""

from __future__ import annotations

import argparse
import signal
import threading
import time

from forestall.mqtturl import redacted
from programs.commands.common import add_config_argument, settings_from


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "worker", help="run ingest and the predictor (MQTT → store → models → visits)"
    )
    add_config_argument(parser)
    parser.add_argument("--no-predictor", action="store_true", help="ingest only (e.g. for benchmarks)")
    parser.set_defaults(handler=_run)
    rebuild = subparsers.add_parser(
        "rebuild",
        help="teach this worker's models anew from the stored telemetry and labels (after a model upgrade)",
        description="Replays every stored reading of the partition's assets in event time, with every "
        "outcome and maintenance event at its time, through fresh models, and writes the worker's "
        "checkpoint. Nothing is written to the state DB. The worker does the same by itself when it "
        "finds a checkpoint of another model version. Stop the worker first.",
    )
    add_config_argument(rebuild)
    rebuild.set_defaults(handler=_rebuild)


def _rebuild(args: argparse.Namespace) -> int:
    import sys

    from forestall.state.db import make_engine, make_sessionmaker, upgrade
    from ingest.pipeline import Pipeline
    from ingest.store import open_store
    from ingest.worker import checkpoint_path
    from predictor.rebuild import rebuild

    settings = settings_from(args)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    store = open_store(settings)
    pipeline = Pipeline(settings.worker.partition, settings.worker.partitions)
    try:
        predictor = rebuild(
            make_sessionmaker(engine),
            store,
            pipeline.owns,
            progress=lambda line: print(line, file=sys.stderr),
        )
        path = checkpoint_path(settings)
        predictor.save(path)
    finally:
        store.close()
        engine.dispose()
    types = len(predictor.types)
    print(
        f"models {predictor.version} of {len(predictor.assets)} assets and {types} equipment types in {path}"
    )
    return 0


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
    print(f"worker {worker.name} consuming {redacted(settings.mqtt.url)}; Ctrl-C to stop", flush=True)
    last = time.monotonic()
    while not stop.wait(1.0):
        if time.monotonic() - last >= 30:
            last = time.monotonic()
            print(f"worker {worker.name}: {worker.applier.samples_stored} samples stored", flush=True)
    worker.stop()
    return 0
