"""Arguments every server command shares."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: `forestall edge` must not load the server stack
    from forestall.settings import Settings
    from simulators.operating import Conditions


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help="TOML settings file; FORESTALL_… environment variables override it",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    from forestall.settings import load_settings

    config: Path | None = args.config
    return load_settings(config)


Handler = Callable[[argparse.Namespace], int]


def reporting(handler: Handler, refusals: Callable[[], tuple[type[BaseException], ...]]) -> Handler:
    """``handler`` with the errors ``refusals()`` names (a service that refused or cannot be
    reached; imported only when the command runs) reported as one line and exit status 2, as
    ``programs.cli`` reports bad input."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except refusals() as exc:
            print(f"forestall {args.command}: error: {exc}", file=sys.stderr)
            return 2

    return run


def add_world_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for how hard the simulated world is to read (simulators/README.md); default: the harder world."""
    world = parser.add_argument_group(
        "simulated world", "how hard the world is to read (default: the harder world, simulators/README.md)"
    )
    world.add_argument(
        "--easy",
        action="store_true",
        help="the easy world: a daily duty cycle, constant climate, no broken sensors (then the flags below)",
    )
    world.add_argument(
        "--sensor-faults",
        type=float,
        default=None,
        metavar="SHARE",
        help="share of assets with a broken sensor (stuck, spikes, dropout, drift in turn; default 0.1)",
    )
    world.add_argument(
        "--load-cycles",
        type=float,
        default=None,
        metavar="SHARE",
        help="share of the load swing that follows setpoints held 1-6 h instead of the hour (default 0.5)",
    )
    world.add_argument(
        "--ambient",
        type=float,
        default=None,
        metavar="CELSIUS",
        help="the season's half-swing of the machine room's air; weather and day add a quarter each (12)",
    )
    world.add_argument(
        "--idle",
        type=float,
        default=None,
        metavar="SHARE",
        help="share of the time machines stand idle, in spells of 2-12 h (default 0.2)",
    )
    world.add_argument(
        "--load-noise",
        type=float,
        default=None,
        metavar="EXPONENT",
        help="sensor noise × (load / 0.5) ** EXPONENT (default 1)",
    )
    world.add_argument(
        "--fault-load-exponent",
        type=float,
        default=None,
        metavar="EXPONENT",
        help="an early fault shows by (load / 0.9) ** EXPONENT, at every load by failure (default 2)",
    )
    world.add_argument(
        "--load-channel",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="machines report their operating point as load_pct (default: yes)",
    )


def world_from(args: argparse.Namespace) -> tuple[float, Conditions]:
    """The share of broken sensors and the machines' conditions that the world's flags ask for."""
    from simulators.operating import HARDER, Conditions

    conditions, share = (Conditions(), 0.0) if args.easy else (HARDER, 0.1)
    given = (
        ("--load-cycles", "load_cycles", args.load_cycles),
        ("--ambient", "ambient_c", args.ambient),
        ("--idle", "idle_share", args.idle),
        ("--load-noise", "load_noise", args.load_noise),
        ("--fault-load-exponent", "fault_load_exponent", args.fault_load_exponent),
        ("--load-channel", "load_channel", args.load_channel),
    )
    for flag, name, value in given:
        if value is None:
            continue
        try:
            conditions = dataclasses.replace(conditions, **{name: value})
        except ValueError as exc:
            raise ValueError(f"{flag}: {exc}") from None
    share = share if args.sensor_faults is None else args.sensor_faults
    if not 0.0 <= share <= 1.0:
        raise ValueError("--sensor-faults is a share of the assets: 0 to 1")
    return share, conditions
