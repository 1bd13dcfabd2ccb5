"""Build the FastAPI app: ``create_app(settings)``.

Nothing is built at import time: the engine, session factory, metrics and the webhook
dispatcher are created in the lifespan from the settings passed in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError

from api.context import AppContext
from api.limits import BodyLimit, KeyLimiter
from api.metrics import ApiMetrics
from api.problems import validation_failed
from api.routes import api_router
from api.routes.system import router as system_router
from api.webhooks.dispatcher import WebhookDispatcher
from api.webhooks.egress import EgressPolicy
from forestall import __version__
from forestall.settings import Settings
from forestall.state.db import make_engine, make_sessionmaker

log = logging.getLogger(__name__)

DESCRIPTION = """Registry, risk, visit recommendations, field events and webhooks of Forestall.

Authenticate with `Authorization: Bearer <api key>` (`forestall keys create`). Lists take
`?limit=&cursor=` and return `{"items": [...], "next_cursor": ...}`. Times are accepted as
RFC 3339 or Unix epoch seconds and returned as RFC 3339 (UTC).

Errors are `{"detail": ...}`: FastAPI's list of errors for 422, a sentence otherwise. Text
with NUL or lone surrogates and the numbers NaN and Infinity are refused (422) wherever they
appear; bodies over `api.max_body_bytes` get 413; each key may make `api.rate_per_s` requests
a second after a burst of `api.rate_burst`, then gets 429 with `Retry-After`.
"""


def create_app(settings: Settings, *, deliver_webhooks: bool = True) -> FastAPI:
    """The API app; ``deliver_webhooks=False`` leaves the outbox to another process (or a test)."""
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        ctx = AppContext(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            metrics=metrics,
            limiter=KeyLimiter(settings.api.rate_per_s, settings.api.rate_burst),
            egress=EgressPolicy(settings.api.webhook_allowed_networks),
        )
        if deliver_webhooks:
            ctx.dispatcher = WebhookDispatcher(ctx.sessions, settings.api, metrics=metrics, egress=ctx.egress)
            ctx.dispatcher.start()
        app.state.ctx = ctx
        try:
            yield
        finally:
            # Stopping the dispatcher waits for attempts in flight; keep the loop free meanwhile.
            await asyncio.to_thread(ctx.close)

    app = FastAPI(title="Forestall API", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    # The metrics middleware is added last, so it is outermost and counts the 413s too.
    app.add_middleware(BodyLimit, max_bytes=settings.api.max_body_bytes)
    app.middleware("http")(metrics.middleware)
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(IntegrityError, _conflict)
    app.add_exception_handler(OperationalError, _unavailable)
    app.include_router(system_router)
    app.include_router(api_router)
    return app


async def _conflict(_request: Request, exc: Exception) -> JSONResponse:
    # A concurrent request created the same object between our check and our commit.
    log.info("integrity error: %s", exc)
    return JSONResponse({"detail": "conflicts with a concurrent change; retry"}, status.HTTP_409_CONFLICT)


async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    log.warning("state DB error: %s", exc)
    return JSONResponse({"detail": "state DB unavailable; retry"}, status.HTTP_503_SERVICE_UNAVAILABLE)
