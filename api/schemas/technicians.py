"""Technicians (or crews): the asset types they serve, where, and when they work.

Working hours are checked by ``forestall.workhours`` (one copy of the rules): each span is a
local ``[start, end]`` that ends after it starts, a day's spans do not overlap, the zone is an
IANA name. The stored schedule is the normalised one (spans sorted, empty days left out).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema

from api.schemas.common import Input, ObjectId, Patch, TimeText
from forestall.workhours import MAX_SPANS_PER_DAY, TIME_PATTERN, Weekday, WeeklyHours, zone

MAX_LABELS = 100  # skills or regions of one technician


def _some(what: str) -> Any:
    def check(values: list[str]) -> list[str]:
        if not values:
            raise ValueError(f"at least one {what} is needed")
        return list(dict.fromkeys(values))  # duplicates dropped, order kept

    return check


def _known_zone(name: str) -> str:
    zone(name)
    return name


def _workable(hours: dict[str, list[list[str]]]) -> dict[str, list[list[str]]]:
    # The zone is checked on its own field; a schedule's validity does not depend on it.
    week = WeeklyHours.parse(hours, "UTC")
    if not any(week.days):
        raise ValueError(
            "no working hours: a technician who never works cannot be planned (set active false)"
        )
    return week.as_text()


# Times are checked by forestall.workhours, whose messages say what is wrong; the schema states
# the pattern for clients.
LocalTime = Annotated[str, WithJsonSchema({"type": "string", "pattern": TIME_PATTERN, "examples": ["08:00"]})]
Span = Annotated[list[LocalTime], Field(min_length=2, max_length=2, description="[start, end]")]
DaySpans = Annotated[list[Span], Field(max_length=MAX_SPANS_PER_DAY)]
Skill = Annotated[str, Field(min_length=1, max_length=64, examples=["pump"])]
Region = Annotated[str, Field(min_length=1, max_length=128, examples=["plant-north"])]

Skills = Annotated[
    list[Skill],
    Field(
        max_length=MAX_LABELS,
        json_schema_extra={"minItems": 1},
        description="asset types this technician can serve (at least one)",
    ),
    AfterValidator(_some("skill (an asset type this technician can serve)")),
]
Regions = Annotated[
    list[Region],
    Field(
        max_length=MAX_LABELS,
        json_schema_extra={"minItems": 1},
        description="sites or region labels this technician covers (at least one)",
    ),
    AfterValidator(_some("region (a site or region label this technician covers)")),
]
Timezone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="IANA time zone of the working hours",
        examples=["Europe/Berlin"],
    ),
    AfterValidator(_known_zone),
]
Hours = Annotated[
    dict[Weekday, DaySpans],
    Field(
        description="per weekday, local [start, end] spans (HH:MM, end 24:00 at the latest); "
        "spans end after they start and do not overlap",
        examples=[{"mon": [["08:00", "12:00"], ["13:00", "17:00"]], "tue": [["08:00", "16:00"]]}],
    ),
    AfterValidator(_workable),
]


class TechnicianFields(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    skills: Skills
    regions: Regions
    timezone: Timezone
    hours: Hours
    active: bool = Field(True, description="false: never planned (on leave, left the company)")


class TechnicianCreate(TechnicianFields, Input):
    id: ObjectId


class TechnicianReplace(TechnicianFields, Input):
    """PUT /technicians/{id}: create or replace."""


class TechnicianUpdate(Patch):
    name: str | None = Field(None, min_length=1, max_length=200)
    skills: Skills | None = None
    regions: Regions | None = None
    timezone: Timezone | None = None
    hours: Hours | None = None
    active: bool | None = None


class TechnicianPublic(BaseModel):
    id: str
    name: str
    skills: list[str]
    regions: list[str]
    timezone: str
    hours: dict[Weekday, list[list[str]]]
    active: bool
    created_at: TimeText
