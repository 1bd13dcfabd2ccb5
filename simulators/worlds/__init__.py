"""World files: how the simulated customers react and how many technicians serve them (TOML).

A world file says what the customers of a simulated world mind and how much (``[reactions]``),
how that turns into negative outcomes (``[outcomes]``), how often things happen to them
(``[events]``), who they are (``[customers]``) and the technicians of the simulated FSM
(``[technicians]``). Every key, its meaning and range are in ``simulators/README.md``; a key the
format does not know is refused (:class:`WorldFileError` names it), so a typo never silently
leaves a default in force. ``default.toml`` is the world of ``forestall demo``; ``outages.toml``,
``billing.toml`` and ``visit_averse.toml`` are three contrasting worlds for backtests.

>>> world = load_world(WORLDS_DIR / "billing.toml")
>>> world.reactions.billing_error > world.reactions.failure, world.technicians.capacity_ratio
(True, 0.6)
>>> text = "[reactions]\\nfailure = 1\\noutage_hour = 0.1\\nslow_resolution = 0\\nbilling_error = 0\\n"
>>> text += "visit = 0\\n[technicians]\\ncount = 3\\ncapacity_ratio = 0.6\\n"
>>> parse_world(text).technicians.count
3
>>> parse_world(text + "crews = 2\\n", "typo.toml")  # doctest: +ELLIPSIS
Traceback (most recent call last):
simulators.worlds.WorldFileError: typo.toml: technicians.crews: unknown key (the keys of [technicians] ...)
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from forestall.workhours import WEEKDAYS, HoursError, WeeklyHours, zone

WORLDS_DIR: Final = Path(__file__).resolve().parent
DEFAULT_WORLD: Final = WORLDS_DIR / "default.toml"
PLAN_NAMES: Final = ("forestall", "fifo", "sla", "probability")


class WorldFileError(ValueError):
    """A world file that cannot be read or does not follow the format (permanent: fix the file)."""


def _ordered(low_high: tuple[float, float]) -> tuple[float, float]:
    low, high = low_high
    if low > high:
        raise ValueError(f"a range is [low, high] with low <= high, got [{low}, {high}]")
    return low_high


def _share_range(low_high: tuple[float, float]) -> tuple[float, float]:
    if not 0.0 <= low_high[0] <= low_high[1] <= 1.0:
        raise ValueError(f"a range of shares lies within [0, 1], got {list(low_high)}")
    return low_high


def _hours_range(low_high: tuple[float, float]) -> tuple[float, float]:
    if low_high[0] < 0.0 or low_high[1] > 24.0:
        raise ValueError(f"hours lie within [0, 24], got {list(low_high)}")
    return low_high


Range = Annotated[tuple[float, float], AfterValidator(_ordered)]
ShareRange = Annotated[Range, AfterValidator(_share_range)]
HoursRange = Annotated[Range, AfterValidator(_hours_range)]
PerDay = Annotated[float, Field(ge=0.0, le=24.0)]
Strength = Annotated[float, Field(ge=0.0, le=10.0)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VisitSensitivity(_Table):
    """Per segment, the range a customer's visit sensitivity is drawn from (uniformly)."""

    key: ShareRange = (0.05, 0.95)
    standard: ShareRange = (0.05, 0.95)
    smb: ShareRange = (0.05, 0.95)


class Customers(_Table):
    satisfaction: ShareRange = (0.55, 0.9)
    spread: float = Field(default=0.5, ge=0.0, le=2.0)
    visit_sensitivity: VisitSensitivity = VisitSensitivity()


class Events(_Table):
    """Per day, for a standard customer with no recent failure and no grievance."""

    tickets: PerDay = 0.3
    billing_errors: PerDay = 0.02
    supply_interruptions: PerDay = 0.03
    outages: PerDay = 0.01
    escalations: PerDay = 0.02
    surveys: PerDay = 0.25
    ticket_slowness: float = Field(default=0.5, ge=0.0, le=2.0)


class Reactions(_Table):
    """What adds to a customer's grievance, before the customer's own sensitivity."""

    failure: Strength
    outage_hour: float = Field(ge=0.0, le=1.0)
    slow_resolution: Strength
    billing_error: Strength
    visit: Strength
    false_visit_factor: float = Field(default=3.0, ge=1.0, le=10.0)
    memory_days: float = Field(default=3.0, gt=0.0, le=365.0)


class Outcomes(_Table):
    """How grievance turns into negative outcomes."""

    escalation_gain: float = Field(default=10.0, ge=0.0, le=1000.0)
    score_drop: float = Field(default=0.35, ge=0.0, le=1.0)
    score_drop_cap: float = Field(default=2.0, ge=0.0, le=100.0)
    contracts_per_day: float = Field(default=0.0, ge=0.0, le=1.0)
    downgrade_share: float = Field(default=0.5, ge=0.0, le=1.0)
    contract_gap_days: float = Field(default=90.0, ge=0.0, le=3650.0)


class Technicians(_Table):
    """The simulated FSM's technicians: how many, when they work, how far apart the sites are."""

    count: int = Field(ge=1, le=10_000)
    capacity_ratio: float = Field(gt=0.0, le=100.0)
    timezone: str = "UTC"
    hours: dict[str, list[tuple[str, str]]] = Field(
        default_factory=lambda: {day: [("08:00", "17:00")] for day in WEEKDAYS[:5]}
    )
    regions: int = Field(default=1, ge=1, le=1000)
    travel_hours_within: HoursRange = (0.5, 1.5)
    travel_hours_between: HoursRange = (1.5, 3.0)
    service_hours: HoursRange = (1.0, 2.0)
    repair_hours: HoursRange = (2.0, 4.0)
    plan: Literal["forestall", "fifo", "sla", "probability"] = "forestall"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        zone(name)
        return name

    @field_validator("hours")
    @classmethod
    def _workable(cls, hours: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
        week = WeeklyHours.parse(hours, "UTC")
        if not any(week.days):
            raise HoursError("no working hours: technicians who never work serve nobody")
        return hours

    def week(self) -> WeeklyHours:
        """The working hours of every technician, in ``timezone``."""
        return WeeklyHours.parse(self.hours, self.timezone)


class WorldFile(_Table):
    description: str = ""
    customers: Customers = Customers()
    events: Events = Events()
    reactions: Reactions
    outcomes: Outcomes = Outcomes()
    technicians: Technicians


def _key_list(model: type[BaseModel]) -> str:
    return ", ".join(model.model_fields)


_TABLES: Final[dict[str, type[BaseModel]]] = {
    "": WorldFile,
    "customers": Customers,
    "customers.visit_sensitivity": VisitSensitivity,
    "events": Events,
    "reactions": Reactions,
    "outcomes": Outcomes,
    "technicians": Technicians,
}


def _message(error: Any) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    if error["type"] == "extra_forbidden":
        table = ".".join(str(part) for part in error["loc"][:-1])
        known = _TABLES.get(table)
        where = f"[{table}]" if table else "the top level"
        hint = f" (the keys of {where} are {_key_list(known)})" if known is not None else ""
        return f"{loc}: unknown key{hint}"
    if error["type"] == "missing":
        return f"{loc}: required"
    return f"{loc}: {error['msg']}" if loc else str(error["msg"])


def parse_world(text: str, source: str = "<world>") -> WorldFile:
    """The world in TOML ``text``; :class:`WorldFileError` says what is wrong, key by key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WorldFileError(f"{source}: not TOML: {exc}") from exc
    try:
        return WorldFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(_message(error) for error in exc.errors())
        raise WorldFileError(f"{source}: {problems}") from None


def load_world(path: str | Path) -> WorldFile:
    """The world file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WorldFileError(f"{path}: cannot read the world file: {exc}") from exc
    return parse_world(text, path.name)


def default_world() -> WorldFile:
    """The world of ``forestall demo`` (``default.toml``)."""
    return load_world(DEFAULT_WORLD)


def shipped_worlds() -> dict[str, Path]:
    """The world files shipped beside this module, by name (the file's stem)."""
    return {path.stem: path for path in sorted(WORLDS_DIR.glob("*.toml"))}
