"""Customers and their Experience Risk Index."""

from __future__ import annotations

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


class RiskPublic(BaseModel):
    customer_id: str
    at: TimeText
    risk_index: float = Field(description="0–100, the sum of the contributions")
    contributions: dict[str, float]


class CustomerPublic(CustomerFields):
    id: str
    created_at: TimeText
    risk: RiskPublic | None = Field(None, description="the latest stored risk, if computed yet")
