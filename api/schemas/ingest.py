"""What ingest rejected, as the API lists it."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RejectionPublic(BaseModel):
    id: int
    asset_id: str | None
    topic: str
    reason: str
    detail: str
    received_at: str = Field(description="wall clock")
    excerpt: str
