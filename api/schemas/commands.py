"""Device commands (``cmd`` on MQTT) and their ack state."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from api.schemas.common import Input, TimeText

SensorName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class SensorSwitch(Input):
    enabled: bool


class SetConfigArgs(Input):
    sample_interval_s: float | None = Field(default=None, gt=0, le=86400)
    sensors: dict[SensorName, SensorSwitch] | None = Field(default=None, max_length=256)


class CommandCreate(Input):
    """``ping`` takes no args; ``set_config`` changes the sampling interval and/or switches sensors."""

    op: Literal["ping", "set_config"]
    args: SetConfigArgs | None = None


class CommandPublic(BaseModel):
    id: str = Field(description="the `id` of the `cmd` payload; the device's `ack` names it")
    asset_id: str
    op: str
    args: dict[str, object]
    status: Literal["sent", "acked", "failed"] = Field(
        description="sent: the broker took it; acked / failed: the device answered (or publishing failed)"
    )
    created_at: TimeText = Field(description="wall clock")
    acked_at: TimeText | None = Field(description="wall clock of the device's answer")
    error: str | None
