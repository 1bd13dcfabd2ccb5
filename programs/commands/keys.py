"""``forestall keys create|list|revoke``: API keys of the state DB.

``create --tenant T --role R`` prints a new key on the last line (the only time it is shown);
``list [--tenant T]`` prints one tab-separated line per key (id, tenant, role, created,
active|revoked, name), never a secret; ``revoke KEY_ID`` makes the API answer the key 401.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from forestall.roles import ROLES
from programs.commands.common import add_config_argument, settings_from

if TYPE_CHECKING:  # imported lazily: `forestall edge` must not load the server stack
    from sqlalchemy.orm import Session


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("keys", help="API key administration")
    keys_sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = keys_sub.add_parser("create", help="create an API key for one tenant and role")
    create.add_argument("--tenant", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", default=None, help="a label to recognise the key by")
    add_config_argument(create)
    create.set_defaults(handler=_create)
    listing = keys_sub.add_parser(
        "list",
        help="one line per key: id, tenant, role, created, active|revoked, name (never the secret)",
    )
    listing.add_argument("--tenant", default=None, help="only this tenant's keys")
    add_config_argument(listing)
    listing.set_defaults(handler=_list)
    revoke = keys_sub.add_parser("revoke", help="revoke a key: the API answers it 401 from now on")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id (as `keys list` shows it) or the key")
    add_config_argument(revoke)
    revoke.set_defaults(handler=_revoke)


@contextmanager
def _session(args: argparse.Namespace) -> Iterator[Session]:
    """One transaction on the state DB of ``--config``, migrated to the newest schema first."""
    from forestall.state.db import make_engine, make_sessionmaker, upgrade

    settings = settings_from(args)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def _create(args: argparse.Namespace) -> int:
    from forestall.state.keys import create_key

    with _session(args) as session:
        key = create_key(session, args.tenant, args.role, args.name)
    print(f"created {args.role} key for tenant {args.tenant} (shown once):")
    print(key)
    return 0


def _list(args: argparse.Namespace) -> int:
    from forestall.contract import format_ts
    from forestall.state.keys import list_keys

    with _session(args) as session:
        lines = [
            "\t".join(
                (
                    key.id,
                    key.tenant,
                    key.role,
                    format_ts(key.created_at)[:19] + "Z",
                    "revoked" if key.revoked else "active",
                    key.name or "-",
                )
            )
            for key in list_keys(session, args.tenant)
        ]
    for line in lines:
        print(line)
    if not lines:
        print("no API keys" + (f" of tenant {args.tenant}" if args.tenant else ""), file=sys.stderr)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from forestall.state.keys import key_id_of, revoke_key

    key_id = key_id_of(args.key_id)
    with _session(args) as session:
        record = revoke_key(session, key_id)
        if record is None:
            raise ValueError(f"no API key with id {key_id!r} (see `forestall keys list`)")
        tenant, role = record.tenant, record.role
    print(f"revoked {role} key {key_id} of tenant {tenant}")
    return 0
