"""Facts the API appends to the events table: maintenance, incidents, feedback."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import Input, ObjectId, Timestamp, TimeText

# sensor_repair: a technician repaired a sensor (``sensor``: its channel; none: every faulty one)
MaintenanceKind = Literal["failure", "repair", "inspection", "sensor_repair"]
IncidentKind = Literal["outage", "supply_interruption", "escalation", "billing_error", "ticket"]
FeedbackKind = Literal["csat", "nps", "ces"]

SCORE_RANGES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}


class MaintenanceCreate(Input):
    asset_id: ObjectId
    kind: MaintenanceKind
    occurred_at: Timestamp
    fault_code: str | None = Field(None, min_length=1, max_length=64)
    notes: str | None = Field(None, max_length=2000)
    sensor: str | None = Field(None, min_length=1, max_length=64)


class MaintenancePublic(BaseModel):
    id: int
    asset_id: str
    customer_id: str | None
    kind: MaintenanceKind
    occurred_at: TimeText
    fault_code: str | None
    notes: str | None
    sensor: str | None = None
    recorded_at: TimeText


class IncidentCreate(Input):
    customer_id: ObjectId
    kind: IncidentKind
    opened_at: Timestamp
    resolved_at: Timestamp | None = None
    duration_min: float | None = Field(None, ge=0.0, le=525_600.0)
    notes: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _resolved_after_opened(self) -> Self:
        if self.resolved_at is not None and self.resolved_at < self.opened_at:
            raise ValueError("resolved_at must not be before opened_at")
        return self


class IncidentPublic(BaseModel):
    id: int
    customer_id: str
    kind: IncidentKind
    opened_at: TimeText
    resolved_at: TimeText | None
    duration_min: float | None
    notes: str | None
    recorded_at: TimeText


class _Feedback(Input):
    customer_id: ObjectId
    kind: FeedbackKind
    score: float
    at: Timestamp
    comment: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _score_in_range(self) -> Self:
        low, high = SCORE_RANGES[self.kind]
        if not low <= self.score <= high:
            raise ValueError(f"{self.kind} score must be between {low} and {high}, got {self.score:g}")
        return self


def _score(kind: str) -> Any:
    """The score field of one kind; its range is in the schema, the message in the validator."""
    low, high = SCORE_RANGES[kind]
    return Field(description=f"{low}–{high}", json_schema_extra={"minimum": low, "maximum": high})


class CsatFeedback(_Feedback):
    kind: Literal["csat"]
    score: float = _score("csat")


class NpsFeedback(_Feedback):
    kind: Literal["nps"]
    score: float = _score("nps")


class CesFeedback(_Feedback):
    kind: Literal["ces"]
    score: float = _score("ces")


# One model per kind, so the schema gives each kind's score range.
FeedbackCreate = Annotated[CsatFeedback | NpsFeedback | CesFeedback, Field(discriminator="kind")]


class FeedbackPublic(BaseModel):
    id: int
    customer_id: str
    kind: FeedbackKind
    score: float
    at: TimeText
    comment: str | None
    recorded_at: TimeText


# A contract the customer ended, or moved to a smaller one: an outcome the service company learns of.
ContractKind = Literal["ended", "downgraded"]


class ContractEventCreate(Input):
    customer_id: ObjectId
    kind: ContractKind
    occurred_at: Timestamp = Field(description="event time: when the contract ended or was downgraded")
    reason: str | None = Field(None, min_length=1, max_length=200, description="e.g. price, service, moved")
    details: str | None = Field(None, max_length=2000)


class ContractEventPublic(BaseModel):
    id: int
    customer_id: str
    kind: ContractKind
    occurred_at: TimeText
    reason: str | None
    details: str | None
    recorded_at: TimeText
