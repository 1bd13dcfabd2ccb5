"""Arguments every server command shares."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily: `forestall edge` must not load the server stack
    from forestall.settings import Settings


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
