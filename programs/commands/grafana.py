"""``forestall grafana build``: write the dashboards and the datasource into ``grafana/provisioning``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from programs.commands.common import add_config_argument, reporting, settings_from


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("grafana", help="the dispatchers' Grafana dashboards (grafana/README.md)")
    sub = parser.add_subparsers(dest="grafana_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="write the provisioning files (dashboards in code, datasource)")
    build.add_argument(
        "--out", type=Path, default=None, help="default: grafana/provisioning of this checkout"
    )
    build.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if the files there differ from the code"
    )
    build.add_argument(
        "--board-url",
        default=None,
        help="where the tables link to (the API's board); default ${FORESTALL_BOARD_URL}, which "
        "grafana/entrypoint.sh fills in from Grafana's environment",
    )
    build.set_defaults(handler=_build)
    push = sub.add_parser(
        "push",
        help="create or update the datasource, dashboards and alert rules in a running Grafana "
        "(idempotent; refuses an organisation provisioned from files)",
    )
    push.add_argument("--url", required=True, help="Grafana's URL, e.g. http://grafana:3000")
    push.add_argument(
        "--token", default=os.environ.get("GRAFANA_TOKEN"), help="an API token (default: $GRAFANA_TOKEN)"
    )
    push.add_argument(
        "--user", default=os.environ.get("GRAFANA_USER"), help="a server admin (needed for --tenant)"
    )
    push.add_argument("--password", default=os.environ.get("GRAFANA_PASSWORD"))
    push.add_argument(
        "--tenant",
        action="append",
        default=[],
        help="an organisation of its own for this tenant, reading only its data (repeatable)",
    )
    push.add_argument(
        "--influx-url",
        default=None,
        help="InfluxDB as Grafana reaches it (default: the store's influxdb.url)",
    )
    push.add_argument("--board-url", default=None, help="where the tables link to (the API's board)")
    push.add_argument(
        "--influx-token", default=None, help="without --tenant: the datasource's read token (InfluxDB 2)"
    )
    push.add_argument(
        "--influx-user", default=None, help="without --tenant: the datasource's read-only user (1.x)"
    )
    push.add_argument("--influx-password", default=None)
    push.add_argument(
        "--alert-url",
        default=None,
        help="the API's /v1/integrations/grafana as Grafana reaches it: also push the alert rules and "
        "their contact point (with --tenant, each gets a new grafana key of its tenant)",
    )
    push.add_argument(
        "--alert-token",
        default=os.environ.get("FORESTALL_ALERT_TOKEN"),
        help="without --tenant: the grafana key the contact point sends (default: $FORESTALL_ALERT_TOKEN)",
    )
    add_config_argument(push)  # the state DB and the InfluxDB of the settings
    push.set_defaults(handler=reporting(_push, _refusals))


def _build(args: argparse.Namespace) -> int:
    from grafana.build import PROVISIONING, provisioning_files, write_provisioning
    from grafana.panels import BOARD_URL_PLACEHOLDER

    folder: Path = args.out or PROVISIONING
    board_url: str = args.board_url or BOARD_URL_PLACEHOLDER
    if args.check:
        stale = [
            name
            for name, text in provisioning_files(board_url).items()
            if not (folder / name).is_file() or (folder / name).read_text() != text
        ]
        for name in stale:
            print(
                f"{folder / name}: differs from the code in grafana/ (run forestall grafana build)",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for path in write_provisioning(folder, board_url):
        print(path)
    return 0


def _refusals() -> tuple[type[BaseException], ...]:
    """Grafana or InfluxDB refused, or could not be reached (bad input is ValueError: programs.cli)."""
    from grafana_client.client import GrafanaException

    from ingest.store.influxdb.transport import MalformedBatchError, RetryableWriteError

    return (GrafanaException, RetryableWriteError, MalformedBatchError, OSError)


def _push(args: argparse.Namespace) -> int:
    from forestall.state.db import make_engine, make_sessionmaker
    from forestall.state.keys import create_key
    from grafana.dashboards import BOARD_URL
    from grafana.push import (
        ORG_PREFIX,
        Alerting,
        Pusher,
        Reader,
        grafana_api,
        push_org,
        reader_for,
    )
    from grafana.readers import ensure_reader

    settings = settings_from(args)
    credential: str | tuple[str, str] | None = args.token
    if args.user:
        credential = (args.user, args.password or "")
    if args.tenant and not args.user:
        raise ValueError("--tenant creates organisations: give a server admin's --user and --password")
    influx_url = args.influx_url or settings.influxdb.url
    board_url = args.board_url or BOARD_URL
    sessions = make_sessionmaker(make_engine(settings.database_url))

    def alerting(tenant: str | None) -> Alerting | None:
        if args.alert_url is None:
            return None
        if tenant is None:
            token = args.alert_token
            if not token:
                raise ValueError("--alert-url without --tenant needs --alert-token (a key of role grafana)")
            return Alerting(args.alert_url, lambda: str(token))

        def new_key() -> str:
            with sessions.begin() as session:
                return create_key(session, tenant, "grafana", name="forestall grafana push")

        return Alerting(args.alert_url, new_key)

    reports = {}
    if not args.tenant:
        reader = reader_for(settings.influxdb, None)
        if args.influx_token or args.influx_user:
            reader = Reader(
                reader.database, args.influx_user or "", args.influx_password or "", args.influx_token or ""
            )
        else:
            print(
                "forestall grafana push: the datasource reads with the store's own credential; give it a "
                "read-only one with --influx-token or --influx-user",
                file=sys.stderr,
            )
        reports[""] = push_org(
            grafana_api(args.url, credential),
            influx_url,
            reader,
            alerting(None),
            board_url=board_url,
        )
    for tenant in args.tenant:
        reader = ensure_reader(settings.influxdb, tenant)
        org = Pusher(grafana_api(args.url, credential)).org(ORG_PREFIX + tenant)
        reports[tenant] = push_org(
            grafana_api(args.url, credential, org),
            influx_url,
            reader,
            alerting(tenant),
            org,
            board_url,
        )
    for tenant, report in reports.items():
        print(
            json.dumps(
                {
                    "tenant": tenant or None,
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": len(report.unchanged),
                }
            )
        )
    return 0
