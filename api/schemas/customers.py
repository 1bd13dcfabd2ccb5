"""Customers and their Experience Risk Index."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import Input, ObjectId, Patch, TimeText
from forestall.vocab import Segment, SlaTier


class CustomerFields(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    segment: Segment = "standard"
    sla_tier: SlaTier = "silver"
    visit_sensitivity: float = Field(
        0.5, ge=0.0, le=1.0, description="0: visits never bother them; 1: always"
    )


class CustomerCreate(CustomerFields, Input):
    id: ObjectId


class CustomerReplace(CustomerFields, Input):
    """PUT /customers/{id}: create or replace."""


class CustomerUpdate(Patch):
    name: str | None = Field(None, min_length=1, max_length=200)
    segment: Segment | None = None
    sla_tier: SlaTier | None = None
    visit_sensitivity: float | None = Field(None, ge=0.0, le=1.0)


class IndexModelPublic(BaseModel):
    """Which model an index was computed with."""

    in_force: Literal["prior", "learned"] = Field(
        description="prior: today's weights (too few outcomes yet); learned: learnt from the outcomes"
    )
    outcomes: int = Field(description="negative outcomes the model has learnt from")
    customer_days: int = Field(description="labelled customer-days it has learnt from")


class RiskPublic(BaseModel):
    customer_id: str
    at: TimeText
    risk_index: float = Field(
        description="the probability, in percent, of a negative outcome (detractor NPS, escalation, "
        "contract ended or downgraded) within 30 days of event time; the sum of the contributions"
    )
    contributions: dict[str, float] = Field(
        description="base_rate (the segment's index without evidence) and each driver's share of the rest"
    )
    model: IndexModelPublic | None = Field(None, description="the model in force when it was computed")


class CustomerPublic(CustomerFields):
    id: str
    created_at: TimeText
    risk: RiskPublic | None = Field(None, description="the latest stored risk, if computed yet")
