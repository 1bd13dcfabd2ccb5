"""One real edge agent per simulated machine: its ``simulated`` driver reads the shared Equipment."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from edge_agent.agent import EdgeAgent
from edge_agent.config import AgentConfig, AgentSettings, MqttSettings, SensorSettings
from edge_agent.drivers.base import SignalSource
from edge_agent.polling import build_drivers
from forestall.clock import Clock


class AgentStats(Protocol):
    @property
    def samples_acked(self) -> int: ...


class EdgeAgentLike(Protocol):
    """What the fleet needs of an edge agent; stepped from the fleet's one thread."""

    @property
    def stats(self) -> AgentStats: ...

    def start(self) -> None: ...

    def step(self, now: float) -> object: ...

    def stop(self) -> None: ...


class AgentFactory(Protocol):
    def __call__(
        self,
        *,
        tenant: str,
        asset: str,
        source: SignalSource,
        mqtt_url: str,
        data_dir: Path,
        sample_interval_s: float,
        clock: Clock,
    ) -> EdgeAgentLike: ...


def make_edge_agent(
    *,
    tenant: str,
    asset: str,
    source: SignalSource,
    mqtt_url: str,
    data_dir: Path,
    sample_interval_s: float,
    clock: Clock,
) -> EdgeAgentLike:
    """A real ``EdgeAgent`` with one ``simulated`` sensor bound to ``source``; its buffer in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # Batch about one wall second of event time and say "online" every few wall seconds, so
    # 50 agents at 3600x send ~50 batches a second rather than one per sample.
    event_per_wall_s = float(getattr(clock, "speed", 1.0))
    batch_age_s = min(max(event_per_wall_s, 1.0), 3600.0)
    heartbeat_s = min(max(5.0 * event_per_wall_s, 60.0), 3600.0)
    config = AgentConfig(
        mqtt=MqttSettings(url=mqtt_url),
        agent=AgentSettings(
            tenant=tenant,
            asset=asset,
            buffer_path="buffer.db",
            sample_interval_s=sample_interval_s,
            batch_max_age_s=batch_age_s,
            heartbeat_s=heartbeat_s,
            buffer_sync="normal",  # a simulation: speed over surviving power cuts
        ),
        sensors=(SensorSettings(driver="simulated", name="machine"),),
        base_dir=str(data_dir),
    )
    drivers = build_drivers(config, source=source)
    agent: EdgeAgentLike = EdgeAgent(config, drivers=drivers, clock=clock)
    return agent
