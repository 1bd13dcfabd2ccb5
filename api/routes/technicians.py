"""``/v1/technicians``: technicians or crews, with skills, regions and weekly working hours.

CRUD for admins, read for dispatchers and FSM. Deactivate one with ``PATCH {"active": false}``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from api.checked import CheckedRoute
from api.crud import technicians as crud
from api.deps import Admin, PageDep, PathId, Reader, SessionDep, next_cursor
from api.problems import errors
from api.schemas.common import Page
from api.schemas.technicians import TechnicianCreate, TechnicianPublic, TechnicianReplace, TechnicianUpdate
from api.views import technician_public
from forestall.state.models import Technician

router = APIRouter(prefix="/technicians", tags=["technicians"], route_class=CheckedRoute)


def _found(technician: Technician | None, technician_id: str) -> Technician:
    if technician is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"technician {technician_id!r} not found")
    return technician


@router.get("")
def list_technicians(
    session: SessionDep,
    principal: Reader,
    page: PageDep,
    skill: Annotated[str | None, Query(description="only those with this skill (an asset type)")] = None,
    region: Annotated[str | None, Query(description="only those covering this site or region")] = None,
    active: Annotated[bool | None, Query(description="only active (true) or inactive (false) ones")] = None,
) -> Page[TechnicianPublic]:
    rows, key = crud.list_technicians(
        session,
        principal.tenant,
        skill=skill,
        region=region,
        active=active,
        after=page.after(str),
        limit=page.limit,
    )
    return Page(items=[technician_public(t) for t in rows], next_cursor=next_cursor(key))


@router.post("", status_code=status.HTTP_201_CREATED)
def create_technician(session: SessionDep, principal: Admin, body: TechnicianCreate) -> TechnicianPublic:
    if crud.get_technician(session, principal.tenant, body.id) is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"technician {body.id!r} already exists (PUT /v1/technicians/{body.id} replaces it)",
        )
    technician = crud.create_technician(session, principal.tenant, body.id, body.model_dump(exclude={"id"}))
    session.commit()
    return technician_public(technician)


@router.get("/{technician_id}", responses=errors(404))
def get_technician(session: SessionDep, principal: Reader, technician_id: PathId) -> TechnicianPublic:
    return technician_public(
        _found(crud.get_technician(session, principal.tenant, technician_id), technician_id)
    )


@router.put("/{technician_id}")
def replace_technician(
    session: SessionDep, principal: Admin, technician_id: PathId, body: TechnicianReplace
) -> TechnicianPublic:
    """Create the technician with this id, or replace all its fields."""
    technician = crud.get_technician(session, principal.tenant, technician_id)
    if technician is None:
        technician = crud.create_technician(session, principal.tenant, technician_id, body.model_dump())
    else:
        crud.update_technician(session, technician, body.model_dump())
    session.commit()
    return technician_public(technician)


@router.patch("/{technician_id}", responses=errors(404))
def update_technician(
    session: SessionDep, principal: Admin, technician_id: PathId, body: TechnicianUpdate
) -> TechnicianPublic:
    """Change some fields, e.g. ``{"active": false}`` to stop planning a technician."""
    technician = _found(crud.get_technician(session, principal.tenant, technician_id), technician_id)
    crud.update_technician(session, technician, body.changes())
    session.commit()
    return technician_public(technician)


@router.delete("/{technician_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
def delete_technician(session: SessionDep, principal: Admin, technician_id: PathId) -> Response:
    technician = _found(crud.get_technician(session, principal.tenant, technician_id), technician_id)
    crud.delete_technician(session, technician)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
