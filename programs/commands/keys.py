"""``forestall keys create --tenant T --role R``: print a new API key on the last line."""

from __future__ import annotations

import argparse

from forestall.roles import ROLES
from programs.commands.common import add_config_argument, settings_from


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("keys", help="API key administration")
    keys_sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = keys_sub.add_parser("create", help="create an API key for one tenant and role")
    create.add_argument("--tenant", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", default=None, help="a label to recognise the key by")
    add_config_argument(create)
    create.set_defaults(handler=_create)


def _create(args: argparse.Namespace) -> int:
    from forestall.state.db import make_engine, make_sessionmaker, upgrade
    from forestall.state.keys import create_key

    settings = settings_from(args)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine).begin() as session:
        key = create_key(session, args.tenant, args.role, args.name)
    engine.dispose()
    print(f"created {args.role} key for tenant {args.tenant} (shown once):")
    print(key)
    return 0
