"""The time-series contract shared by ingest, predictor and API: the TelemetryStore interface
and the point model of docs/ARCHITECTURE.md, storage. The adapters live in ``ingest.store``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from forestall.contract import Sample


class StoreError(Exception):
    """A store operation failed; ``retryable`` tells whether a later retry may succeed."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Point:
    """One point of a non-telemetry measurement: asset_health, customer_risk, recommendation."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, float]
    ts: float


@dataclass(frozen=True, slots=True)
class SeriesTags:
    """Tags of a telemetry series (docs/ARCHITECTURE.md, storage)."""

    tenant: str
    asset: str
    asset_type: str = ""
    customer: str = ""
    site: str = ""


class TelemetryStore(Protocol):
    def write_samples(self, tags: SeriesTags, samples: Sequence[Sample]) -> None:
        """Store samples; writing the same (tenant, asset, ts) again merges the values."""
        ...

    def write_batch(self, items: Sequence[tuple[SeriesTags, Sequence[Sample]]]) -> None:
        """Store the samples of many series at once (one transaction where the store has them)."""
        ...

    def write_points(self, points: Sequence[Point]) -> None: ...

    def query_telemetry(
        self,
        tenant: str,
        asset: str,
        start: float,
        end: float,
        sensors: Sequence[str] | None = None,
        limit: int = 10_000,
        after: float | None = None,
    ) -> list[tuple[float, dict[str, float]]]:
        """Samples with start <= ts <= end (and ts > after, for paging), oldest first."""
        ...

    def query_points(
        self,
        measurement: str,
        tenant: str,
        key: str,
        start: float,
        end: float,
        limit: int = 10_000,
    ) -> list[Point]: ...

    def count_samples(self, tenant: str | None = None) -> int: ...

    def purge(self, tenant: str, now: float) -> int:
        """Drop the tenant's data older than the retention before its event clock ``now``; returns
        rows removed (where the store can tell)."""
        ...

    def close(self) -> None: ...
