"""The driver contract: a driver turns some source of readings into contract samples.

Also home of ``Options``, the strict reader every TOML table goes through (the agent's own
sections and each driver's options), so every configuration error names its key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from forestall.contract import Sample


class DriverError(Exception):
    """A driver could not read; ``retryable`` says whether trying again later may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key."""


class Driver(Protocol):
    name: str

    def poll(self, now: float) -> list[Sample]:
        """Samples that became due up to event time ``now`` (may be empty)."""
        ...

    def state(self) -> dict[str, Any] | None:
        """Position to persist with the buffer (e.g. replay offset); None if stateless."""
        ...

    def restore(self, state: dict[str, Any]) -> None: ...

    def set_interval(self, seconds: float) -> None:
        """Change the sample interval (``set_config`` command); may be a no-op."""
        ...

    def close(self) -> None: ...


class SignalSource(Protocol):
    """Something that can be read at an event time: a simulated machine, a test double."""

    sensors: tuple[str, ...]

    def read(self, ts: float) -> dict[str, float]: ...


@dataclass(frozen=True, slots=True)
class DriverContext:
    """What a driver factory gets besides its own config table."""

    tenant: str
    asset: str
    base_dir: str  # relative paths in the config resolve against this
    sample_interval_s: float
    source: SignalSource | None = None  # the demo hands simulated drivers a shared world model
    name: str = ""  # the sensor's name (status map, set_config); empty: the driver's own name


class Options:
    """Strict, typed reading of one TOML table; every error names the key (``agent.tenant: …``).

    >>> opts = Options({"speed": 2}, prefix="sensors[0]")
    >>> opts.number("speed", 1.0, minimum=0.0)
    2.0
    >>> opts.finish()
    >>> Options({"sped": 2}).finish()
    Traceback (most recent call last):
    ...
    edge_agent.drivers.base.ConfigError: sped: unknown key
    """

    def __init__(self, table: Mapping[str, Any], prefix: str = "") -> None:
        self._table = dict(table)
        self._prefix = prefix
        self._read: set[str] = set()

    @property
    def prefix(self) -> str:
        return self._prefix

    def key(self, name: str) -> str:
        return f"{self._prefix}.{name}" if self._prefix else name

    def error(self, name: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.key(name)}: {problem}")

    def _get(self, name: str) -> Any:
        self._read.add(name)
        return self._table.get(name)

    def has(self, name: str) -> bool:
        return self._table.get(name) is not None

    def raw(self, name: str) -> Any:
        """The value as TOML gave it (for shapes the typed readers do not cover); None if absent."""
        return self._get(name)

    def required_text(self, name: str) -> str:
        value = self.optional_text(name)
        if value is None:
            raise self.error(name, "required")
        return value

    def text(self, name: str, default: str) -> str:
        value = self.optional_text(name)
        return default if value is None else value

    def optional_text(self, name: str) -> str | None:
        value = self._get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(name, "must be a non-empty string")
        return value

    def path(self, name: str, base_dir: str | Path) -> Path | None:
        """A path; relative paths resolve against ``base_dir`` (the config file's directory)."""
        value = self.optional_text(name)
        return None if value is None else resolve_path(base_dir, value)

    def number(
        self,
        name: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        positive: bool = False,
    ) -> float:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.error(name, "must be a number")
        _check_range(self, name, float(value), minimum, maximum, positive)
        return float(value)

    def text_list(self, name: str) -> list[str] | None:
        """A non-empty list of strings (e.g. a program's argv); None if absent."""
        value = self._get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.error(name, "must be a non-empty list of non-empty strings")
        return list(value)

    def integer(
        self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, "must be an integer")
        _check_range(self, name, value, minimum, maximum, False)
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(name, "must be true or false")
        return value

    def table(self, name: str, *, required: bool = False) -> dict[str, Any]:
        value = self._get(name)
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            raise self.error(
                name, f"{'required ' if value is None else 'must be a '}table [{self.key(name)}]"
            )
        return value

    def tables(self, name: str) -> list[dict[str, Any]]:
        value = self._get(name)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self.error(name, f"must be a list of tables [[{self.key(name)}]]")
        return value

    def remaining(self) -> dict[str, Any]:
        """The keys nobody has read yet (a driver's own options), now counted as read."""
        rest = {key: value for key, value in self._table.items() if key not in self._read}
        self._read.update(rest)
        return rest

    def finish(self) -> None:
        """Refuse keys nobody read: a typo must not silently fall back to a default."""
        unknown = sorted(set(self._table) - self._read)
        if unknown:
            raise self.error(unknown[0], "unknown key")


def _check_range(
    opts: Options, name: str, value: float, minimum: float | None, maximum: float | None, positive: bool
) -> None:
    if positive and value <= 0:
        raise opts.error(name, "must be > 0")
    if minimum is not None and value < minimum:
        raise opts.error(name, f"must be >= {minimum:g}")
    if maximum is not None and value > maximum:
        raise opts.error(name, f"must be <= {maximum:g}")


def resolve_path(base_dir: str | Path, value: str | Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else Path(base_dir) / path


DriverFactory = Callable[[Mapping[str, Any], DriverContext], Driver]
