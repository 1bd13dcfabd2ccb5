"""``CheckedRoute``: the route class of every ``/v1`` router. What no database can hold is a 422.

PostgreSQL refuses NUL in text, and no database stores a lone surrogate; JSON has no NaN or
Infinity. Before a route runs, this checks the path and query values it declares, and decodes a
JSON body with orjson, which refuses NaN, Infinity, numbers beyond a double, lone surrogates,
bytes that are not UTF-8 and nesting deeper than 1024; a NUL (``\\u0000``) is then searched for
only when the body spells one. Every refusal is FastAPI's usual 422 list of errors, wherever
the bad value sits, so no route or model needs a check of its own.

The route also documents the statuses its dependencies imply (``implied_responses``): 401 and
429 for a key, 403 when only some roles may call it, 409 for a write (the app answers an
integrity error with 409).

>>> unstorable_errors({"name": "a\\x00b", "tags": ["ok", "\\ud800"]}, ("body",))[0]["loc"]
('body', 'name')
>>> [e["loc"] for e in unstorable_errors({"x": [1, {"\\x00": 2}]}, ("body",))]
[('body', 'x', 1)]
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from api.deps import RequireRole
from api.problems import MAX_ERRORS, error, errors
from forestall.contract import printable, storable
from forestall.roles import ROLES

UNSTORABLE = "text must not contain NUL (\\u0000) or lone surrogates: no database can store it"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
Loc = tuple[str | int, ...]


class CheckedRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        for code, doc in implied_responses(self.dependant, self.methods or set()).items():
            self.responses.setdefault(code, doc)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        query_names = {field.alias for d in _walk(self.dependant) for field in d.query_params}
        reads_json = self.body_field is not None

        async def checked(request: Request) -> Response:
            request = CheckedRequest(request.scope, request.receive)
            problems = param_errors(request, query_names)
            if not problems and reads_json and _is_json(request.headers.get("content-type")):
                problems = await request.decode_body()
            if problems:
                raise RequestValidationError(problems[:MAX_ERRORS])
            return await handler(request)

        return checked


class CheckedRequest(Request):
    """A request whose JSON body ``decode_body`` decoded once; FastAPI's ``json()`` gets that."""

    _decoded: Any

    async def decode_body(self) -> list[dict[str, Any]]:
        """Errors of the body as JSON (none for an empty body: FastAPI reports it missing)."""
        body = await self.body()
        if not body:
            return []
        try:
            self._decoded = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            # The shape FastAPI gives a body json.loads refuses.
            return [
                {
                    **error(("body", exc.pos), "JSON decode error", {}, "json_invalid"),
                    "ctx": {"error": exc.msg},
                }
            ]
        # Raw control characters are invalid JSON, so only this escape decodes to a NUL.
        return unstorable_errors(self._decoded, ("body",)) if b"\\u0000" in body else []

    async def json(self) -> Any:
        if not hasattr(self, "_decoded"):
            # Only if FastAPI read a media type as JSON that _is_json does not name. orjson's
            # error is a json.JSONDecodeError, which FastAPI answers with its 422.
            self._decoded = orjson.loads(await self.body())
        return self._decoded


def param_errors(request: Request, query_names: set[str]) -> list[dict[str, Any]]:
    problems = []
    for name, value in request.path_params.items():
        problems += unstorable_errors(value, ("path", name))
    for name, value in request.query_params.multi_items():
        if name in query_names:
            problems += unstorable_errors(value, ("query", name))
    return problems


def unstorable_errors(value: Any, loc: Loc) -> list[dict[str, Any]]:
    """An error per text in ``value`` (a decoded JSON document; keys too) no database can store."""
    found: list[dict[str, Any]] = []
    pending: list[tuple[Any, Loc]] = [(value, loc)]  # a loop, not recursion: JSON nests 1024 deep
    while pending and len(found) < MAX_ERRORS:
        item, where = pending.pop()
        if isinstance(item, str):
            if not storable(item):
                found.append(error(where, UNSTORABLE, printable(item), "string_unstorable"))
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                pending.append((child, (*where, printable(key))))
                if not storable(key):
                    found.append(error(where, f"a key: {UNSTORABLE}", printable(key), "string_unstorable"))
        elif isinstance(item, list):
            pending.extend((child, (*where, i)) for i, child in reversed(list(enumerate(item))))
    return found


def implied_responses(dependant: Dependant, methods: set[str]) -> dict[int | str, dict[str, Any]]:
    """The statuses a route's dependencies and method imply, for its OpenAPI ``responses``."""
    codes: set[int] = set()
    for dep in _walk(dependant):
        if isinstance(dep.call, RequireRole):
            codes |= {401, 429} | ({403} if set(dep.call.roles) != set(ROLES) else set())
    if methods & WRITES:
        codes.add(409)
    return errors(*sorted(codes))


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _walk(sub)


def _is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this type as JSON (``strict_content_type``: a type is needed)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
