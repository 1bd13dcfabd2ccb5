"""``forestall db upgrade``: migrate the state DB schema."""

from __future__ import annotations

import argparse

from programs.commands.common import add_config_argument, settings_from


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help="state DB administration")
    db_sub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = db_sub.add_parser("upgrade", help="migrate the state DB to the latest schema")
    up.add_argument("revision", nargs="?", default="head")
    add_config_argument(up)
    up.set_defaults(handler=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    from forestall.state.db import upgrade

    settings = settings_from(args)
    upgrade(settings.database_url, args.revision)
    print(f"state DB at revision {args.revision}")
    return 0
