"""``forestall grafana build``: write the dashboards and the datasource into ``grafana/provisioning``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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
    build.set_defaults(handler=_build)


def _build(args: argparse.Namespace) -> int:
    from grafana.dashboards import PROVISIONING, provisioning_files, write_provisioning

    folder: Path = args.out or PROVISIONING
    if args.check:
        stale = [
            name
            for name, text in provisioning_files().items()
            if not (folder / name).is_file() or (folder / name).read_text() != text
        ]
        for name in stale:
            print(
                f"{folder / name}: differs from grafana/dashboards.py (run forestall grafana build)",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for path in write_provisioning(folder):
        print(path)
    return 0
