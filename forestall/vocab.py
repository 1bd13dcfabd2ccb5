"""The domain's vocabularies, in one place: customer segments, SLA tiers and their service levels,
recommendation kinds, priorities and statuses, sensor fault kinds. The API's schemas, the risk
index, the planner, the state views and the simulators all read them from here.

>>> SLA["gold"].response_hours, STATUSES[:3] == OPEN_STATUSES
(8.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, get_args

Segment = Literal["key", "enterprise", "standard", "smb"]
SlaTier = Literal["platinum", "gold", "silver", "bronze"]
Priority = Literal["P1", "P2", "P3", "P4"]
Status = Literal["open", "accepted", "scheduled", "completed", "dismissed", "expired", "cancelled"]
# What a recommendation sends a technician for: a machine about to fail (``failure``) or a sensor
# that misreports (``sensor_check``: null predicted_failure_at, confidence about the sensor fault).
# Outside checks and failure metrics count ``failure`` only. Later kinds are added here.
RecommendationKind = Literal["failure", "sensor_check"]
SensorFaultKind = Literal["stuck", "spike", "dropout", "drift"]
# A maintenance event's kind and the models' label: a technician repaired a sensor ("sensor_repair"
# for every faulty channel of the asset, "sensor_repair:<channel>" for one).
SENSOR_REPAIR: Final = "sensor_repair"

SEGMENTS: Final[tuple[str, ...]] = get_args(Segment)
SLA_TIERS: Final[tuple[str, ...]] = get_args(SlaTier)
PRIORITIES: Final[tuple[str, ...]] = get_args(Priority)
STATUSES: Final[tuple[str, ...]] = get_args(Status)
RECOMMENDATION_KINDS: Final[tuple[str, ...]] = get_args(RecommendationKind)
DEFAULT_KIND: Final = "failure"  # every recommendation made before kinds existed
SENSOR_FAULT_KINDS: Final[tuple[str, ...]] = get_args(SensorFaultKind)
OPEN_STATUSES: Final = STATUSES[:3]  # a technician may still go
CLOSED_STATUSES: Final = STATUSES[3:]


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    response_hours: float  # from a visit request to a technician on site
    resolution_hours: float  # target time to resolve an incident
    request_minutes: float  # target duration of a service request


SLA: Final[dict[str, ServiceLevel]] = {
    "platinum": ServiceLevel(4.0, 8.0, 30.0),
    "gold": ServiceLevel(8.0, 24.0, 60.0),
    "silver": ServiceLevel(24.0, 48.0, 120.0),
    "bronze": ServiceLevel(48.0, 72.0, 240.0),
}
DEFAULT_TIER: Final = "silver"  # the service level of a tier not in the table


def service_level(tier: str) -> ServiceLevel:
    return SLA.get(tier, SLA[DEFAULT_TIER])
