"""Assets, their health and telemetry."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field

from api.schemas.common import Input, ObjectId, Patch, TimeText


class AssetFields(BaseModel):
    customer_id: ObjectId | None = Field(None, description="null: unassigned")
    asset_type: str = Field("unknown", min_length=1, max_length=64)
    site: str | None = Field(None, max_length=128)
    criticality: int = Field(3, ge=1, le=5)
    safety_critical: bool = False


class AssetCreate(AssetFields, Input):
    id: ObjectId


class AssetReplace(AssetFields, Input):
    """PUT /assets/{id}: create or replace (e.g. an asset ingest registered as unassigned)."""


class AssetUpdate(Patch):
    NULLABLE: ClassVar[frozenset[str]] = frozenset({"customer_id", "site"})
    customer_id: ObjectId | None = None
    asset_type: str | None = Field(None, min_length=1, max_length=64)
    site: str | None = Field(None, max_length=128)
    criticality: int | None = Field(None, ge=1, le=5)
    safety_critical: bool | None = None


class HealthPublic(BaseModel):
    asset_id: str
    at: TimeText
    anomaly_score: float
    failure_probability: float
    ttf_hours: float | None
    ttf_low_hours: float | None
    ttf_high_hours: float | None
    model_version: str
    top_sensors: list[str]
    drift: bool


class AssetPublic(AssetFields):
    id: str
    online: bool | None = Field(description="null: never heard from")
    online_since: TimeText | None
    last_seen_at: TimeText | None
    agent_status: dict[str, Any] | None
    created_at: TimeText
    health: HealthPublic | None = Field(None, description="the latest health snapshot, if any")


class TelemetrySample(BaseModel):
    ts: TimeText
    values: dict[str, float]
