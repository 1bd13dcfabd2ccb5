"""``forestall edge --config FILE``: run the edge agent until SIGINT or SIGTERM.

Registered into the ``forestall`` command line by ``programs.cli``. Imports nothing heavy:
the agent itself is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from edge_agent.drivers.base import ConfigError

log = logging.getLogger("edge_agent")

EXIT_CONFIG = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "edge",
        help="run the edge agent: read sensors, buffer on disk, publish telemetry over MQTT",
        description=(
            "Read the sensors configured in FILE, keep every sample in an on-disk buffer until the "
            "broker acknowledges it, and publish telemetry batches, status and command acks over "
            "MQTT. Runs until SIGINT or SIGTERM, then flushes what it can and reports offline."
        ),
    )
    parser.add_argument(
        "--config",
        required=True,
        type=Path,
        metavar="FILE",
        help="the agent's TOML config (see edge_agent/README.md)",
    )
    parser.set_defaults(handler=run_edge)


def run_edge(args: argparse.Namespace) -> int:
    from edge_agent.agent import EdgeAgent
    from edge_agent.config import load_config

    _show_progress()
    try:
        config = load_config(args.config)
        agent = EdgeAgent(config)
        agent.start()
    except ConfigError as exc:
        print(f"forestall edge: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    stop = threading.Event()
    _on_signals(stop)
    log.info(
        "edge agent %s/%s publishing to %s; stop with Ctrl-C",
        config.agent.tenant,
        config.agent.asset,
        config.mqtt.url,
    )
    try:
        agent.run(stop)
    finally:
        agent.stop()
    return 0


def _on_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def _show_progress() -> None:
    """The agent is a service: its INFO lines (connects, progress) are shown by default."""
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
