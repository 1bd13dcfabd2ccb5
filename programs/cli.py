"""The ``forestall`` command line (docs/ARCHITECTURE.md, command line).

Each subcommand lives next to what it runs and registers itself through ``COMMANDS``:
``"<module>"`` whose ``register(subparsers)`` adds the parser and sets ``handler``. Server
commands appear only when the server stack is installed (``pip install forestall[server]``),
so an edge-only install offers just ``forestall edge``. argparse (standard library) is used
rather than click/typer to keep the edge agent's import footprint small.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from forestall import __version__

# Forestall scales out by process, one worker per core (docs/ARCHITECTURE.md, scaling out): BLAS threads
# would only fight over the same cores (the RUL model's matrix products ran ten times slower).
for _threads in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")


class _Registrar(Protocol):
    def __call__(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


EDGE_COMMANDS = ("edge_agent.cli",)
SERVER_COMMANDS = (
    "programs.commands.demo",
    "programs.commands.worker",
    "programs.commands.api",
    "programs.commands.simulate",
    "programs.commands.db",
    "programs.commands.keys",
    "programs.commands.devices",
    "programs.commands.grafana",
    "programs.commands.backtest",
)
SERVER_PACKAGES = ("fastapi", "sqlalchemy", "river", "pydantic_settings", "amqtt")


def server_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in SERVER_PACKAGES)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forestall",
        description="Forestall: predict equipment faults and send a technician before the customer notices.",
    )
    parser.add_argument("--version", action="version", version=f"forestall {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = EDGE_COMMANDS + (SERVER_COMMANDS if server_installed() else ())
    for name in modules:
        register: _Registrar = importlib.import_module(name).register
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError) as exc:
        # Configuration and input errors: a clear message naming the bad key, no traceback.
        print(f"forestall {args.command}: error: {describe(exc)}", file=sys.stderr)
        return 2


def describe(exc: Exception) -> str:
    """One line per problem; pydantic's validation errors become ``key.path: message``."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            items = errors()
            return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in items)
        except (TypeError, KeyError):
            pass
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())
