"""``forestall api``: migrate the state DB, then serve the API and deliver webhooks."""

from __future__ import annotations

import argparse

from programs.commands.common import add_config_argument, settings_from


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "api",
        help="serve the HTTP API and the dispatcher board, and deliver webhooks",
        description="Serve the HTTP API (OpenAPI at /docs, board at /) and deliver webhooks from the outbox.",
    )
    add_config_argument(parser)
    parser.add_argument("--host", default=None, help="listen address (default: settings api.host)")
    parser.add_argument("--port", type=int, default=None, help="listen port (default: settings api.port)")
    parser.add_argument(
        "--no-webhooks",
        action="store_true",
        help="do not deliver webhooks from this process (another one does)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from forestall.state.db import upgrade

    settings = settings_from(args)
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        settings = settings.model_copy(update={"api": settings.api.model_copy(update=overrides)})
    upgrade(settings.database_url)
    app = create_app(settings, deliver_webhooks=not args.no_webhooks)
    log_level = "info" if args.verbose else "warning"
    print(f"forestall api on http://{settings.api.host}:{settings.api.port} (docs at /docs)", flush=True)
    uvicorn.run(
        app,
        host=settings.api.host,
        port=settings.api.port,
        log_level=log_level,
        access_log=bool(args.verbose),
    )
    return 0
