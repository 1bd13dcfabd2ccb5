"""Arguments every server command shares."""

from __future__ import annotations

import argparse
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
