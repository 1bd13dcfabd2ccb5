"""Device commands as kept in the state DB (the worker marks them acked / failed)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.crud.common import page_of
from forestall.state.models import Command


def create_command(session: Session, tenant: str, asset_id: str, op: str, args: dict[str, Any]) -> Command:
    command = Command(
        id=f"cmd_{secrets.token_hex(16)}",
        tenant=tenant,
        asset_id=asset_id,
        op=op,
        args=args,
        status="sent",
        created_at=time.time(),
    )
    session.add(command)
    return command


def mark_failed(session: Session, command_id: str, error: str) -> Command | None:
    command = session.get(Command, command_id)
    if command is not None and command.status == "sent":
        command.status, command.error = "failed", error
    return command


def list_commands(
    session: Session,
    tenant: str,
    asset_id: str,
    *,
    status: str | None,
    after: tuple[Any, ...] | None,
    limit: int,
) -> tuple[list[Command], list[Any] | None]:
    """Newest first."""
    stmt = select(Command).where(Command.tenant == tenant, Command.asset_id == asset_id)
    if status is not None:
        stmt = stmt.where(Command.status == status)
    return page_of(session, stmt, [Command.created_at, Command.id], after=after, limit=limit, descending=True)


def get_command(session: Session, tenant: str, asset_id: str, command_id: str) -> Command | None:
    command = session.get(Command, command_id)
    if command is None or command.tenant != tenant or command.asset_id != asset_id:
        return None
    return command
