"""Dependencies: the app context, a DB session per request, the caller and their role.

Roles per resource are docs/ARCHITECTURE.md, HTTP API; a route states who may call it by the type of its
``principal`` parameter (``Admin``, ``Reader``, …).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import WithJsonSchema
from sqlalchemy.orm import Session

from api.context import AppContext
from api.pagination import cursor_key, encode_cursor
from api.problems import invalid
from api.schemas.common import TIME_SCHEMA
from forestall.contract import ID_RE, parse_ts
from forestall.state.keys import ROLES, lookup_key


def get_context(request: Request) -> AppContext:
    return cast(AppContext, request.app.state.ctx)


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    """A session for the request; routes commit what they change, anything else rolls back."""
    with ctx.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer fs_…`")


@dataclass(frozen=True, slots=True)
class Principal:
    tenant: str
    role: str
    key_id: str


def get_principal(
    ctx: ContextDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing API key (Authorization: Bearer <key>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    record = lookup_key(session, credentials.credentials)
    if record is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"}
        )
    within_rate(ctx, record.tenant, record.id)
    return Principal(tenant=record.tenant, role=record.role, key_id=record.id)


def within_rate(ctx: AppContext, tenant: str, key_id: str) -> None:
    """429 with Retry-After once this key's request budget is spent (``api.limits.KeyLimiter``)."""
    wait_s = ctx.limiter.retry_after(tenant, key_id)
    if wait_s is not None:
        api = ctx.settings.api
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"this API key made more than {api.rate_burst} requests at once or {api.rate_per_s:g} a "
            f"second; retry in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        )


class RequireRole:
    """A dependency admitting keys of the given roles; others get 403."""

    def __init__(self, *roles: str) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles: {sorted(unknown)}")
        self.roles = roles

    def __call__(self, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in self.roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {principal.role!r} may not do this; allowed: {', '.join(self.roles)}",
            )
        return principal


AnyRole = Annotated[Principal, Depends(RequireRole(*ROLES))]
Admin = Annotated[Principal, Depends(RequireRole("admin"))]
Reader = Annotated[Principal, Depends(RequireRole("admin", "dispatcher", "fsm"))]
Dispatcher = Annotated[Principal, Depends(RequireRole("admin", "dispatcher"))]
FieldOps = Annotated[Principal, Depends(RequireRole("admin", "dispatcher", "fsm"))]
Technician = Annotated[Principal, Depends(RequireRole("admin", "fsm"))]


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: str | None

    def after(self, *types: type) -> tuple[Any, ...] | None:
        """The key to continue after; 422 for a cursor this list did not hand out."""
        if not self.cursor:  # ?cursor= (empty) asks for the first page, like no cursor
            return None
        key = cursor_key(self.cursor, *types)
        if key is None:
            raise invalid(("query", "cursor"), "not a next_cursor this list handed out", self.cursor)
        return key


# Cursors are base64url (api.pagination); what decodes to no key of this list is still a 422.
Cursor = Annotated[
    str | None,
    Query(description="next_cursor of the previous page", pattern="^[A-Za-z0-9_-]*$", max_length=1000),
]


def get_page(
    limit: Annotated[int, Query(ge=1, le=1000, description="items per page")] = 100, cursor: Cursor = None
) -> PageParams:
    return PageParams(limit, cursor)


PageDep = Annotated[PageParams, Depends(get_page)]


def next_cursor(key: list[Any] | None) -> str | None:
    return encode_cursor(key) if key is not None else None


def query_time(name: str, value: str | None) -> float | None:
    """A time query parameter (RFC 3339 or epoch seconds); 422 when it is neither."""
    if value is None or not value.strip():
        return None
    # An unencoded "+" of a UTC offset arrives as a space.
    text = value.strip().replace(" ", "+")
    try:
        return parse_ts(float(text)) if _is_number(text) else parse_ts(text)
    except ValueError as exc:
        raise invalid(("query", name), str(exc), value) from exc


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: float | None
    end: float | None


TIME_DOC = "RFC 3339 (e.g. 2026-11-23T18:00:00Z) or Unix epoch seconds"


TimeQuery = Annotated[str | None, WithJsonSchema(TIME_SCHEMA)]


def get_time_range(
    start: Annotated[TimeQuery, Query(alias="from", description=f"start (inclusive); {TIME_DOC}")] = None,
    end: Annotated[TimeQuery, Query(alias="to", description=f"end; {TIME_DOC}")] = None,
) -> TimeRange:
    # A window that ends before it starts is empty, not an error: no schema can say "to ≥ from".
    return TimeRange(query_time("from", start), query_time("to", end))


TimeRangeDep = Annotated[TimeRange, Depends(get_time_range)]


def split_list(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated query values alike: ``?status=open,accepted&status=scheduled``."""
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


# An object's id in a path: client-chosen ids (and the server's own) match the contract's pattern,
# so anything else is a 422 that names the pattern rather than a lookup that cannot succeed.
PathId = Annotated[str, Path(pattern=f"^{ID_RE.pattern}$", description="[A-Za-z0-9_-]{1,64}")]
