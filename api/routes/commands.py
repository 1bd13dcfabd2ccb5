"""``/v1/assets/{id}/commands``: send ``cmd`` to a device over MQTT and follow its ``ack``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status

from api.checked import CheckedRoute
from api.commands import CommandPublishError
from api.crud import commands as crud
from api.deps import ContextDep, Dispatcher, PageDep, PathId, SessionDep, next_cursor
from api.problems import errors
from api.routes.assets import found_asset
from api.schemas.commands import CommandCreate, CommandPublic
from api.schemas.common import Page
from forestall.contract import Command as CommandMessage
from forestall.contract import format_ts
from forestall.state.models import Command

router = APIRouter(prefix="/assets", tags=["commands"], route_class=CheckedRoute)


def command_public(command: Command) -> CommandPublic:
    return CommandPublic(
        id=command.id,
        asset_id=command.asset_id,
        op=command.op,
        args=command.args,
        status=command.status,  # type: ignore[arg-type]  # the column only holds these values
        created_at=format_ts(command.created_at),
        acked_at=format_ts(command.acked_at) if command.acked_at is not None else None,
        error=command.error,
    )


@router.post(
    "/{asset_id}/commands",
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(404, 503, s503="the MQTT broker is unreachable; the command is recorded as failed"),
)
def send_command(
    ctx: ContextDep, session: SessionDep, principal: Dispatcher, asset_id: PathId, body: CommandCreate
) -> CommandPublic:
    """Publish the command on ``forestall/v1/{tenant}/{asset}/cmd`` (QoS 1). Answers once the
    broker confirmed it, with ``status: sent``; poll ``GET …/commands/{id}`` for the device's ack."""
    found_asset(session, principal, asset_id)
    args = body.args.model_dump(exclude_none=True, mode="json") if body.args is not None else {}
    command = crud.create_command(session, principal.tenant, asset_id, body.op, args)
    # Committed before publishing, so an ack that beats our response still finds its row.
    session.commit()
    try:
        ctx.command_publisher().publish(principal.tenant, asset_id, CommandMessage(command.id, body.op, args))
    except CommandPublishError as exc:
        crud.mark_failed(session, command.id, str(exc))
        session.commit()
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"command not sent: {exc}") from exc
    session.refresh(command)
    return command_public(command)


@router.get("/{asset_id}/commands", responses=errors(404))
def list_commands(
    session: SessionDep,
    principal: Dispatcher,
    page: PageDep,
    asset_id: PathId,
    status_: Annotated[Literal["sent", "acked", "failed"] | None, Query(alias="status")] = None,
) -> Page[CommandPublic]:
    """Newest first."""
    found_asset(session, principal, asset_id)
    rows, key = crud.list_commands(
        session, principal.tenant, asset_id, status=status_, after=page.after(float, str), limit=page.limit
    )
    return Page(items=[command_public(c) for c in rows], next_cursor=next_cursor(key))


@router.get("/{asset_id}/commands/{command_id}", responses=errors(404))
def get_command(
    session: SessionDep, principal: Dispatcher, asset_id: PathId, command_id: PathId
) -> CommandPublic:
    found_asset(session, principal, asset_id)
    command = crud.get_command(session, principal.tenant, asset_id, command_id)
    if command is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"command {command_id!r} not found")
    return command_public(command)
