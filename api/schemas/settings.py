"""Per-tenant settings: the risk weights and threshold."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from api.schemas.common import Input
from predictor.risk import DEFAULT_WEIGHTS

WEIGHT_MAX = 1000.0
WEIGHT_RANGE: dict[str, Any] = {"type": "number", "minimum": 0.0, "maximum": WEIGHT_MAX}


class RiskWeightsPublic(BaseModel):
    weights: dict[str, float] = Field(description="effective weights: the tenant's over the defaults")
    threshold: float = Field(description="risk.threshold_crossed fires when an index crosses this")
    defaults: dict[str, float]


class RiskWeightsUpdate(Input):
    weights: dict[str, float] = Field(
        default_factory=dict,
        description="omitted names use the defaults",
        json_schema_extra={
            "properties": {name: WEIGHT_RANGE for name in DEFAULT_WEIGHTS},
            "additionalProperties": False,
        },
    )
    threshold: float | None = Field(None, ge=0.0, le=100.0)

    @field_validator("weights")
    @classmethod
    def _known_non_negative(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(DEFAULT_WEIGHTS))
        if unknown:
            raise ValueError(f"unknown weights {unknown}; known: {', '.join(DEFAULT_WEIGHTS)}")
        negative = sorted(name for name, value in weights.items() if not 0.0 <= value <= WEIGHT_MAX)
        if negative:
            raise ValueError(f"weights must be between 0 and {WEIGHT_MAX:g}: {negative}")
        return weights
