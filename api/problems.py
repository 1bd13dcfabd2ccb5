"""Error replies: one ``{"detail": …}`` shape, documented in the OpenAPI schema.

A 422 always carries FastAPI's list of errors (``invalid`` builds one for checks a route makes
itself); every other error carries a sentence. ``errors(404, 409)`` documents statuses on a route.
``validation_failed`` replaces FastAPI's 422 handler so that the reply serialises whatever the
client sent: FastAPI's own echoes the input as it is, and NaN, bytes that are not UTF-8 or a
lone surrogate in it made the reply itself fail with a 500.

>>> json_safe({"input": [float("nan"), b"\\xff", "a\\x00b"], "loc": ("body", 0)})
{'input': ['nan', '\\\\xff', 'a\\\\x00b'], 'loc': ['body', 0]}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.schemas.common import Problem
from forestall.contract import printable

DESCRIPTIONS: dict[int, str] = {
    401: "missing, invalid or revoked API key",
    403: "the key's role may not do this",
    404: "no such object in the key's tenant",
    409: "conflicts with the object's current state or with a concurrent change; see detail",
    413: "the request body is larger than the API accepts (setting api.max_body_bytes)",
    429: "this API key's request budget is spent (api.rate_per_s, api.rate_burst); retry after Retry-After",
    503: "the state DB is unavailable; retry",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
MAX_ERRORS = 20  # of one kind in one reply: a body full of bad strings must not make a huge reply


def errors(*codes: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these statuses; ``described`` overrides a description by
    ``s503="…"`` (keyword names cannot be numbers)."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        doc: dict[str, Any] = {"model": Problem, "description": described.get(f"s{code}", DESCRIPTIONS[code])}
        if code == status.HTTP_429_TOO_MANY_REQUESTS:
            doc["headers"] = RETRY_AFTER
        documented[code] = doc
    return documented


def error(loc: Sequence[str | int], msg: str, value: Any = None, kind: str = "value_error") -> dict[str, Any]:
    """One entry of a 422's ``detail`` list, in pydantic's shape."""
    return {"type": kind, "loc": tuple(loc), "msg": msg, "input": value}


def invalid(loc: Sequence[str | int], msg: str, value: Any = None) -> RequestValidationError:
    """A 422 for a check a route makes itself, shaped like FastAPI's own: ``raise invalid(…)``."""
    return RequestValidationError([error(loc, msg, value)])


def json_safe(value: Any) -> Any:
    """``value`` with what JSON (or UTF-8) cannot carry made printable: non-finite numbers and
    bytes become text, text with NUL or lone surrogates is escaped, unknown objects are str()'d."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, bytes):
        return printable(value.decode(errors="backslashreplace"))
    if isinstance(value, dict):
        return {str(json_safe(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return printable(str(value))


async def validation_failed(_request: Request, exc: Exception) -> JSONResponse:
    problems = exc.errors() if isinstance(exc, RequestValidationError) else [error((), str(exc))]
    return JSONResponse(
        {"detail": json_safe(list(problems)[:MAX_ERRORS])}, status.HTTP_422_UNPROCESSABLE_CONTENT
    )
