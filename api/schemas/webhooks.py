"""Webhook subscriptions and their delivery log."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AnyHttpUrl, BaseModel, Field, field_validator

from api.schemas.common import Input, Patch, TimeText
from api.webhooks.signing import is_valid_secret
from forestall.state.repo import WEBHOOK_TYPES

EVENTS_DOC = f"event types to receive ({', '.join(WEBHOOK_TYPES)}); empty: all"
# whsec_ and base64 of at least 16 bytes (22 characters); what the schema promises is accepted.
SECRET_PATTERN = r"^whsec_[A-Za-z0-9+/]{22,}={0,2}$"
SECRET_DOC = "whsec_ + base64 of at least 16 bytes; omit to have one generated (returned once)"


def _known_events(events: list[str] | None) -> list[str] | None:
    if events is None:
        return None
    unknown = sorted(set(events) - set(WEBHOOK_TYPES))
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {', '.join(WEBHOOK_TYPES)}")
    return list(dict.fromkeys(events))


def _usable_secret(secret: str | None) -> str | None:
    if secret is not None and not is_valid_secret(secret):
        raise ValueError("secret must be whsec_ followed by base64 of at least 16 bytes")
    return secret


class WebhookCreate(Input):
    url: AnyHttpUrl
    events: list[str] = Field(default_factory=list, description=EVENTS_DOC)
    secret: str | None = Field(None, description=SECRET_DOC, pattern=SECRET_PATTERN)
    active: bool = True

    _events = field_validator("events")(_known_events)
    _secret = field_validator("secret")(_usable_secret)


class WebhookUpdate(Patch):
    NULLABLE: ClassVar[frozenset[str]] = frozenset()
    url: AnyHttpUrl | None = None
    events: list[str] | None = Field(None, description=EVENTS_DOC)
    secret: str | None = Field(None, description="a new secret (rotation)", pattern=SECRET_PATTERN)
    active: bool | None = None

    _events = field_validator("events")(_known_events)
    _secret = field_validator("secret")(_usable_secret)


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    active: bool
    created_at: TimeText


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="shown only in this response")


class AttemptPublic(BaseModel):
    at: TimeText
    status_code: int | None
    error: str | None
    duration_ms: float


class DeliveryPublic(BaseModel):
    id: int
    subscription_id: str
    message_id: str = Field(description="the webhook-id header: the same on every retry")
    event_type: str
    event_timestamp: TimeText
    status: str = Field(description="pending | delivered | dead")
    attempts: int
    next_attempt_at: TimeText | None = Field(description="wall clock; null once delivered or dead")
    last_status_code: int | None
    last_error: str | None
    last_duration_ms: float | None
    delivered_at: TimeText | None
    attempt_log: list[AttemptPublic]
