"""``forestall devices provision|disable|enable|revoke|services``: device credentials on the broker.

Each talks to Mosquitto's dynamic security plugin as its admin client: ``--broker`` (or
``FORESTALL_BROKER_ADMIN_URL``), e.g. ``mqtts://admin:…@broker:8883``; the admin's password may
instead come apart from the URL, from ``FORESTALL_BROKER_ADMIN_PASSWORD`` or the file
``FORESTALL_BROKER_ADMIN_PASSWORD_FILE`` names (a Docker secret). ``provision`` prints a ready
``edge.toml`` for the device (or writes it, readable by its owner only, with ``--out``).
``services`` takes each service's password from ``--<role>-password``, ``<ROLE>_MQTT_PASSWORD``
or the file ``<ROLE>_MQTT_PASSWORD_FILE`` names.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

from forestall.devices import (
    ALREADY_EXISTS,
    SERVICE_ROLES,
    SIMULATOR_ROLE,
    DynSec,
    DynSecError,
    change_commands,
    device_commands,
    device_username,
    edge_toml,
    new_credential,
    password_commands,
    service_commands,
)
from forestall.mqtturl import parse_mqtt_url, with_credentials
from forestall.secretfiles import secret_from_env
from programs.commands.common import reporting

ADMIN_URL_ENV = "FORESTALL_BROKER_ADMIN_URL"
ADMIN_PASSWORD_ENV = "FORESTALL_BROKER_ADMIN_PASSWORD"
SERVICES = tuple(role.removeprefix("forestall-") for role in SERVICE_ROLES)  # worker, api, guard
SIMULATOR = SIMULATOR_ROLE.removeprefix("forestall-")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "devices", help="device credentials on the broker (Mosquitto dynamic security)"
    )
    sub = parser.add_subparsers(dest="devices_command", metavar="ACTION", required=True)
    provision = sub.add_parser(
        "provision", help="create a device's broker credential and print its edge.toml"
    )
    _device_arguments(provision)
    provision.add_argument(
        "--edge-url",
        default=None,
        help="the broker URL the device uses (default: --broker's, without credentials)",
    )
    provision.add_argument(
        "--edge-ca-file", default=None, help="the CA file path on the device, for mqtts://"
    )
    provision.add_argument("--password", default=None, help="default: a random one")
    provision.add_argument("--out", type=Path, default=None, help="write the edge.toml here (mode 0600)")
    provision.set_defaults(handler=reporting(_provision, _refusals))
    for action, help_text in (
        ("disable", "refuse the device's credential and disconnect it now"),
        ("enable", "accept a disabled device's credential again"),
        ("revoke", "delete the device's credential and role"),
    ):
        command = sub.add_parser(action, help=help_text)
        _device_arguments(command)
        command.set_defaults(handler=reporting(_change, _refusals), action=action)
    services = sub.add_parser(
        "services",
        help="create (or set again) the worker's, the API's and the guard's broker credentials; prints them",
    )
    _broker_arguments(services)
    for role in SERVICES:
        env = _password_env(role)
        services.add_argument(
            f"--{role}-password", default=None, help=f"default: ${env} or ${env}_FILE, else a random one"
        )
    services.add_argument(
        "--simulator-password",
        default=None,
        help=f"also the demo's simulator credential (default: ${_password_env(SIMULATOR)} or …_FILE; "
        "unset: none)",
    )
    services.add_argument(
        "--only",
        action="append",
        choices=(*SERVICES, SIMULATOR),
        default=None,
        help="only this credential (repeatable); the others are left as they are",
    )
    services.set_defaults(handler=reporting(_services, _refusals))


def _password_env(role: str) -> str:
    return f"{role.upper()}_MQTT_PASSWORD"


def _refusals() -> tuple[type[BaseException], ...]:
    return (DynSecError,)


def _broker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker",
        default=os.environ.get(ADMIN_URL_ENV),
        help=f"the broker as its dynamic-security admin: mqtt[s]://admin:pw@host:port (or {ADMIN_URL_ENV})",
    )
    parser.add_argument("--ca-file", default=None, help="CA to verify the broker's TLS certificate")


def _device_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--asset", required=True)
    _broker_arguments(parser)


def _admin_url(args: argparse.Namespace) -> str:
    if not args.broker:
        raise ValueError(
            f"--broker (or {ADMIN_URL_ENV}) is required: the broker's dynamic-security admin URL"
        )
    url: str = args.broker
    password = secret_from_env(ADMIN_PASSWORD_ENV)
    return url if password is None else with_credentials(url, password)


def _provision(args: argparse.Namespace) -> int:
    url = _admin_url(args)
    credential = new_credential(args.tenant, args.asset, args.password)
    if args.edge_url:
        edge_url = args.edge_url
    else:
        endpoint = parse_mqtt_url(url)
        edge_url = f"{'mqtts' if endpoint.tls else 'mqtt'}://{endpoint.host}:{endpoint.port}"
    with DynSec(url, ca_file=args.ca_file) as dynsec:
        dynsec.run(device_commands(credential))
    text = edge_toml(credential, edge_url, args.edge_ca_file)
    if args.out is None:
        sys.stdout.write(text)
    else:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        print(f"wrote {args.out} for {credential.username}", file=sys.stderr)
    return 0


def _change(args: argparse.Namespace) -> int:
    commands = change_commands(args.action, args.tenant, args.asset)
    with DynSec(_admin_url(args), ca_file=args.ca_file) as dynsec:
        dynsec.run(commands)
    print(f"{args.action}d {device_username(args.tenant, args.asset)}", file=sys.stderr)
    return 0


def _services(args: argparse.Namespace) -> int:
    names = args.only or (*SERVICES, SIMULATOR)
    given = {
        f"forestall-{name}": getattr(args, f"{name}_password") or secret_from_env(_password_env(name))
        for name in names
    }
    given = {role: password for role, password in given.items() if password}
    if args.only:
        wanted = {f"forestall-{name}" for name in names}
    else:  # the simulator's credential is made only when its password is given (the demo profile)
        wanted = set(SERVICE_ROLES) | ({SIMULATOR_ROLE} & set(given))
    passwords = {role: given.get(role) or secrets.token_urlsafe(24) for role in sorted(wanted)}
    with DynSec(_admin_url(args), ca_file=args.ca_file) as dynsec:
        dynsec.run(service_commands(passwords), ok_if=ALREADY_EXISTS)
        dynsec.run(password_commands(passwords))
    for role, password in passwords.items():  # only what was made here: a given one may be in logs
        name = f"{role.removeprefix('forestall-').upper()}_MQTT_PASSWORD"
        if role in given:
            print(f"{role}: the given password is set", file=sys.stderr)
        else:
            print(f"{name}={password}")
    return 0
