"""Keyset pagination shared by every list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session

M = TypeVar("M")


def page_of(
    session: Session,
    stmt: Select[M],
    keys: Sequence[InstrumentedAttribute[Any]],
    *,
    after: tuple[Any, ...] | None,
    limit: int,
    descending: bool = False,
) -> tuple[list[M], list[Any] | None]:
    """Up to ``limit`` rows of ``stmt`` ordered by ``keys``, starting after the key ``after``.

    Returns the rows and the key of the last one when more follow (else None).
    """
    if after is not None:
        stmt = stmt.where(_beyond(keys, after, descending))
    order = [key.desc() if descending else key.asc() for key in keys]
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, [getattr(rows[-1], key.key) for key in keys]


def _beyond(
    keys: Sequence[InstrumentedAttribute[Any]], after: tuple[Any, ...], descending: bool
) -> ColumnElement[bool]:
    columns: Any = keys[0] if len(keys) == 1 else tuple_(*keys)
    bound: Any = after[0] if len(keys) == 1 else tuple_(*after)
    beyond: ColumnElement[bool] = columns < bound if descending else columns > bound
    return beyond
