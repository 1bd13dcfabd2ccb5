"""Per-tenant settings: the Experience index's prior weights and threshold, and its model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from api.schemas.common import Input, TimeText
from predictor.risk import DEFAULT_WEIGHTS

WEIGHT_MAX = 1000.0
WEIGHT_RANGE: dict[str, Any] = {"type": "number", "minimum": 0.0, "maximum": WEIGHT_MAX}
RENAMED_THRESHOLD = (
    "`threshold` was a score of the fixed index, which is gone: the index is now the probability "
    "(in percent) of a negative outcome within 30 days; send `threshold_percent` (0–100) instead "
    "(60 on the old index is about 50 now)"
)


class IndexModelDetail(BaseModel):
    """The tenant's Experience index model: which is in force, on how many outcomes, its parameters."""

    version: str
    in_force: Literal["prior", "learned"]
    outcomes: int = Field(description="negative outcomes learnt from")
    customer_days: int = Field(description="labelled customer-days learnt from")
    min_outcomes: int = Field(description="negative outcomes needed before the learnt model is in force")
    base_rates: dict[str, float] = Field(
        description="per segment, the index (%) of a customer without evidence"
    )
    weights: dict[str, float] = Field(description="per driver, log-odds at full evidence, in force")
    prior: dict[str, float] = Field(description="per driver, the prior's log-odds (the weights × 0.04)")
    learnt: dict[str, float] = Field(description="per driver, the log-odds learnt so far, in force or not")
    brier: float | None = Field(description="mean squared error of the index given before each label")
    base_rate_brier: float | None = Field(description="the same for the observed rate of negative outcomes")
    updated_at: TimeText | None = Field(description="event time the learner last ran")


class RiskWeightsPublic(BaseModel):
    weights: dict[str, float] = Field(
        description="the prior's weights in points: the tenant's over the defaults"
    )
    threshold_percent: float = Field(
        description="risk.threshold_crossed fires when a customer's index (a probability, %) crosses this"
    )
    defaults: dict[str, float]
    model: IndexModelDetail


class RiskWeightsUpdate(Input):
    weights: dict[str, float] = Field(
        default_factory=dict,
        description="the prior's weights in points (× 0.04 = log-odds); omitted names use the defaults",
        json_schema_extra={
            "properties": {name: WEIGHT_RANGE for name in DEFAULT_WEIGHTS},
            "additionalProperties": False,
        },
    )
    threshold_percent: float | None = Field(None, ge=0.0, le=100.0)

    @model_validator(mode="before")
    @classmethod
    def _no_old_threshold(cls, data: Any) -> Any:
        if isinstance(data, dict) and "threshold" in data:
            raise ValueError(RENAMED_THRESHOLD)
        return data

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
