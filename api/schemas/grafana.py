"""Grafana alert webhook bodies (the "webhook" contact point), as far as we read them.

Grafana adds fields between versions, so unknown fields are ignored, not refused.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GrafanaAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str = Field("firing", max_length=32, description="firing | resolved")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: str | None = None  # noqa: N815 - Grafana's field name
    endsAt: str | None = None  # noqa: N815
    generatorURL: str | None = None  # noqa: N815
    fingerprint: str | None = Field(None, max_length=128)


class GrafanaNotification(BaseModel):
    model_config = ConfigDict(extra="ignore")

    receiver: str | None = None
    status: str | None = None
    alerts: list[GrafanaAlert] = Field(default_factory=list, max_length=1000)
    externalURL: str | None = None  # noqa: N815


class GrafanaRecorded(BaseModel):
    recorded: int = Field(description="alerts appended to the events table")
    event_ids: list[int]
    ignored_other_tenant: int = Field(0, description="alerts whose tenant label names another tenant")
