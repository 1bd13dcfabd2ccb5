"""Shapes every resource shares: timestamps in, pages out."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from forestall.contract import ID_RE, parse_ts


def _to_epoch(value: Any) -> float:
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_ts(float(text))
        except ValueError:
            return parse_ts(text)
    return parse_ts(value)


# Input times: RFC 3339 (UTC, ``Z`` or offset) or Unix epoch seconds; held as epoch seconds.
Timestamp = Annotated[
    float,
    BeforeValidator(_to_epoch),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]}),
]

# Output times are RFC 3339 strings in UTC with a ``Z``.
TimeText = str

ObjectId = Annotated[str, Field(pattern=f"^{ID_RE.pattern}$", examples=["pump-0042"])]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``?cursor=`` for the next."""

    items: list[T]
    next_cursor: str | None = None


class Problem(BaseModel):
    detail: str


class Input(BaseModel):
    """Request bodies refuse unknown fields, so a misspelt field is an error, not a no-op."""

    model_config = ConfigDict(extra="forbid")


class Patch(Input):
    """A partial update: only the fields sent change. ``null`` is refused for a field unless
    it is in ``NULLABLE`` (there it clears the value)."""

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for name in self.model_fields_set - self.NULLABLE:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)
