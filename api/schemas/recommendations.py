"""Visit recommendations and their lifecycle (ARCHITECTURE §4, §5)."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, Field, model_validator

from api.schemas.common import Input, ObjectId, Timestamp, TimeText
from forestall.vocab import Priority, RecommendationKind, Status


class CapacityPublic(BaseModel):
    """A failure visit's place in the technicians' plan (``predictor.capacity``)."""

    rank: int = Field(description="1: served first; visits are ranked by the harm they avoid")
    harm: float = Field(description="expected customer harm avoided: the product of harm_factors")
    harm_factors: dict[str, float] = Field(
        description="failure_probability, urgency (how soon the failure is due), asset (criticality, "
        "safety), customer_risk (from the Experience Risk Index), segment and sla"
    )
    technician_id: str | None = Field(description="booked, or when overbooked the one who could come first")
    start: TimeText | None = Field(description="the slot's start: travel, then the work")
    end: TimeText | None
    planned_at: TimeText | None = Field(description="event time of the plan")


class RecommendationPublic(BaseModel):
    """The shape of ``forestall.state.views.recommendation_view`` (also webhook ``data``)."""

    id: str
    tenant: str
    customer_id: str | None
    site: str | None
    asset_ids: list[str]
    status: Status
    kind: RecommendationKind = Field(
        description="failure: a machine about to fail; sensor_check: a sensor that misreads "
        "(predicted_failure_at null, confidence about the sensor fault, reason.sensor names it)"
    )
    priority: Priority
    priority_score: float
    reason: dict[str, Any]
    predicted_failure_at: TimeText | None
    confidence: float
    window_start: TimeText
    window_end: TimeText
    sla_due_at: TimeText
    fits_sla: bool
    risk_index: float
    source: str
    created_at: TimeText
    updated_at: TimeText
    scheduled_for: TimeText | None
    closed_at: TimeText | None
    close_reason: str | None
    outcome: dict[str, Any] | None
    overbooked: bool | None = Field(
        None,
        description="true: no technician's time fits before the predicted failure, and capacity holds "
        "the earliest slot that would; false: capacity holds the booked slot; null: not planned "
        "(no technicians registered, a sensor check, or no longer open when technicians came)",
    )
    capacity: CapacityPublic | None = None


class RecommendationCreate(Input):
    """A manual recommendation: a dispatcher sends someone without waiting for the predictor."""

    asset_ids: list[ObjectId] = Field(min_length=1, max_length=100)
    customer_id: ObjectId | None = Field(None, description="default: the customer the assets belong to")
    priority: Priority = "P3"
    window_start: Timestamp
    window_end: Timestamp
    predicted_failure_at: Timestamp | None = None
    sla_due_at: Timestamp | None = Field(None, description="default: now + the SLA tier's response time")
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    notes: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _window_order(self) -> Self:
        if self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self


class ScheduleRequest(Input):
    scheduled_for: Timestamp = Field(description="RFC 3339 or epoch seconds (event time)")


class DismissRequest(Input):
    reason: str | None = Field(None, min_length=1, max_length=200)


class OutcomeCreate(Input):
    fault_found: bool
    fault_code: str | None = Field(None, min_length=1, max_length=64)
    repaired_at: Timestamp | None = None
    notes: str | None = Field(None, max_length=2000)
