"""Shapes every resource shares: timestamps in, pages out."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from forestall.contract import ID_RE, MAX_TS, parse_ts


def _to_epoch(value: Any) -> float:
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_ts(float(text))
        except ValueError:
            return parse_ts(text)
    return parse_ts(value)


# The instants the API takes are 1970-01-01 to 3000-01-01 (forestall.contract.parse_ts). JSON
# Schema cannot bound a date-time, so the schema names years whose every instant is in range,
# whatever the UTC offset: all it calls valid is accepted (a few more instants are too).
TIME_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "format": "date-time", "pattern": "^(19[89][0-9]|2[0-8][0-9]{2})-"},
        {"type": "number", "minimum": 0, "maximum": MAX_TS},
    ]
}

# Input times: RFC 3339 (UTC, ``Z`` or offset) or Unix epoch seconds; held as epoch seconds.
Timestamp = Annotated[float, BeforeValidator(_to_epoch), WithJsonSchema(TIME_SCHEMA)]

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


def null_only_where_nullable(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """A ``json_schema_extra`` for models of optional fields: the schema offers null only for
    the fields in the model's ``NULLABLE`` (a Patch refuses null elsewhere; other models may
    take it, so the schema is the stricter of the two)."""
    nullable: frozenset[str] = getattr(model, "NULLABLE", frozenset())
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if name in nullable or options is None:
            continue
        kept = [option for option in options if option != {"type": "null"}]
        if len(kept) == 1:
            del prop["anyOf"]
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class Patch(Input):
    """A partial update: only the fields sent change. ``null`` is refused for a field unless
    it is in ``NULLABLE`` (there it clears the value)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=null_only_where_nullable)
    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> Self:
        for name in self.model_fields_set - self.NULLABLE:
            if getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)
