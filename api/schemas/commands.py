"""Device commands (``cmd`` on MQTT) and their ack state."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.schemas.common import Input, TimeText, null_only_where_nullable

SensorName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class SensorSwitch(Input):
    enabled: bool


def _at_least_one_field(schema: dict[str, Any], model: type[BaseModel]) -> None:
    null_only_where_nullable(schema, model)
    schema["minProperties"] = 1


class SetConfigArgs(Input):
    """Either or both; a null counts as left out."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_at_least_one_field)
    sample_interval_s: float | None = Field(default=None, gt=0, le=86400)
    sensors: dict[SensorName, SensorSwitch] | None = Field(
        default=None, max_length=256, json_schema_extra={"additionalProperties": False}
    )

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if self.sample_interval_s is None and self.sensors is None:
            raise ValueError("set_config needs sample_interval_s and/or sensors")
        return self


class PingCommand(Input):
    op: Literal["ping"]
    args: None = Field(None, description="ping takes no args")


class SetConfigCommand(Input):
    """Change the sampling interval and/or switch sensors on or off."""

    op: Literal["set_config"]
    args: SetConfigArgs


CommandCreate = Annotated[PingCommand | SetConfigCommand, Field(discriminator="op")]


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
