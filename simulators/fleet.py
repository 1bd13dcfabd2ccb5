"""The physical world, wired up: machines behind real edge agents, customers behind the API.

``Fleet`` owns a ``World`` and talks to the rest of Forestall only through documented
interfaces: it registers customers and assets and posts incidents, surveys and contract events
through the REST API, its machines publish telemetry through one real edge agent each, and it
hears about technicians (and reports back) on the sim channel. One thread calls ``step``::

    fleet = Fleet(FleetSpec(), clock, api_url=url, api_key=key, mqtt_url=mqtt, data_dir=dir)
    fleet.start()                    # registers via the API, connects agents and the sim channel
    while running:
        fleet.step()                 # advance everything to clock.now()
    fleet.stop()
    print(fleet.metrics.as_dict())
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import logging
import math
import queue
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from forestall.clock import Clock
from simulators.agents import AgentFactory, EdgeAgentLike, make_edge_agent
from simulators.apiclient import ApiClient, ApiError, with_retries
from simulators.customers import ContractEvent, CustomerEvent, Survey
from simulators.simchannel import VISIT_KINDS, SimChannel, SimChannelError
from simulators.world import FleetSpec, VisitRequest, World, WorldMetrics
from simulators.worlds import WorldFile

__all__ = ["Fleet", "FleetSpec", "WorldMetrics"]

log = logging.getLogger(__name__)

MAX_OUTBOX: Final = 10_000  # API posts waiting for the API to come back


class Fleet:
    def __init__(
        self,
        spec: FleetSpec,
        clock: Clock,
        *,
        api_url: str,
        api_key: str,
        mqtt_url: str,
        data_dir: str | Path,
        start: float | None = None,
        agent_factory: AgentFactory = make_edge_agent,
        world: WorldFile | None = None,
    ) -> None:
        self.spec = spec
        self.clock = clock
        self.mqtt_url = mqtt_url
        self.data_dir = Path(data_dir)
        self.world = World(spec, clock.now() if start is None else start, world)
        self.api = ApiClient(api_url, api_key)
        self._agent_factory = agent_factory
        self.agents: dict[str, EdgeAgentLike] = {}
        self._inbox: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._channel = SimChannel(
            mqtt_url,
            spec.tenant,
            client_id=f"forestall-sim-world-{spec.tenant}",
            listen=("visit",),
            handler=lambda asset, kind, payload: self._inbox.put((asset, payload)),
        )
        self._visits: list[tuple[float, int, VisitRequest]] = []
        self._visit_ids: set[str] = set()
        self._order = itertools.count()
        self._outbox: deque[tuple[str, Callable[[], Any]]] = deque()
        self.now = self.world.start
        self.rejected_visits = 0
        self.api_dropped = 0
        self.channel_errors = 0
        self._started = False
        self._stopped = False

    # -- lifecycle ----------------------------------------------------------------------------

    def register(self) -> None:
        """Create (or update) every customer and asset through the API."""
        api = self.api
        for c in self.world.customers:
            call = functools.partial(
                api.upsert_customer, c.id, c.name, c.segment, c.sla_tier, c.visit_sensitivity
            )
            with_retries(call, attempts=8)
        for a in self.world.assets:
            call = functools.partial(
                api.upsert_asset, a.id, a.customer_id, a.asset_type, a.site, a.criticality, a.safety_critical
            )
            with_retries(call, attempts=8)

    def start(self, *, register: bool = True) -> None:
        if register:
            self.register()
        self._channel.start()
        self._started = True
        for asset in self.world.assets:
            agent = self._agent_factory(
                tenant=self.spec.tenant,
                asset=asset.id,
                source=self.world.equipment[asset.id],
                mqtt_url=self.mqtt_url,
                data_dir=self.data_dir / "agents" / asset.id,
                sample_interval_s=self.spec.sample_interval_s,
                clock=self.clock,
            )
            self.agents[asset.id] = agent
            agent.start()

    def stop(self) -> None:
        """Post what waits, stop the agents (they flush their buffers) and disconnect; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._flush_outbox()
        for agent in self.agents.values():
            try:
                agent.stop()
            except Exception:  # stopping must reach every agent
                log.exception("stopping an edge agent failed")
        if self._started:
            self._channel.stop()
            self._started = False
        self.api.close()

    # -- the step -----------------------------------------------------------------------------

    def step(self, now: float | None = None) -> None:
        """Advance the world, the agents and the customers to ``now`` (default: the clock)."""
        now = max(self.clock.now() if now is None else now, self.now)
        self._take_visit_requests()
        while self._visits and self._visits[0][0] <= now:
            _, _, visit = heapq.heappop(self._visits)
            self._advance(max(visit.at, self.now))
            self._perform(dataclasses.replace(visit, at=self.now))
        self._advance(now)
        for event in self.world.customer_events(now):
            self._post_customer_event(event)
        self._flush_outbox()

    def _advance(self, t: float) -> None:
        for agent in self.agents.values():
            agent.step(t)  # the agents read their machines up to t
        for failure in self.world.advance(t):
            self._publish(failure.asset_id, "failure", {"at": failure.at, "fault_code": failure.fault_code})
        self.now = t

    def _publish(self, asset: str, kind: str, payload: dict[str, Any]) -> None:
        try:
            self._channel.publish(asset, kind, payload)
        except SimChannelError as exc:  # the world goes on; the FSM just misses this one
            self.channel_errors += 1
            log.warning("sim channel: %s", exc)

    def _take_visit_requests(self) -> None:
        while True:
            try:
                asset, payload = self._inbox.get_nowait()
            except queue.Empty:
                return
            visit = self._parse_visit(asset, payload)
            if visit is None:
                self.rejected_visits += 1
                log.warning("sim channel: ignored visit request for %r: %r", asset, payload)
            elif visit.visit_id not in self._visit_ids:  # QoS 1 may deliver twice
                self._visit_ids.add(visit.visit_id)
                heapq.heappush(self._visits, (visit.at, next(self._order), visit))

    def _parse_visit(self, asset: str, payload: dict[str, Any]) -> VisitRequest | None:
        at, visit_id, rec_id = payload.get("at"), payload.get("visit_id"), payload.get("recommendation_id")
        kind = payload.get("kind", "preventive")
        if asset not in self.world.equipment or kind not in VISIT_KINDS or not isinstance(visit_id, str):
            return None
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            return None
        if rec_id is not None and not isinstance(rec_id, str):
            return None
        return VisitRequest(asset, visit_id, rec_id, float(at), kind)

    def _perform(self, visit: VisitRequest) -> None:
        report = self.world.perform_visit(visit)
        self._publish(
            visit.asset_id,
            "report",
            {
                "visit_id": visit.visit_id,
                "recommendation_id": visit.recommendation_id,
                "at": visit.at,
                **dataclasses.asdict(report),
            },
        )

    # -- API posts ----------------------------------------------------------------------------

    def _post_customer_event(self, event: CustomerEvent) -> None:
        if len(self._outbox) >= MAX_OUTBOX:
            self.api_dropped += 1
            return
        call: Callable[[], Any]
        if isinstance(event, Survey):
            call = functools.partial(
                self.api.post_feedback, event.customer_id, event.kind, event.score, event.at
            )
        elif isinstance(event, ContractEvent):
            call = functools.partial(self.api.post_contract_event, event.customer_id, event.kind, event.at)
        else:
            call = functools.partial(
                self.api.post_incident,
                event.customer_id,
                event.kind,
                event.opened_at,
                event.resolved_at,
                event.duration_min,
            )
        self._outbox.append((f"{event.kind} for {event.customer_id}", call))

    def _flush_outbox(self) -> None:
        """Post what waits; stop at the first retryable error (the API is down: try next step)."""
        while self._outbox:
            what, call = self._outbox[0]
            try:
                call()
            except ApiError as exc:
                if exc.retryable:
                    return
                self.api_dropped += 1
                log.warning("fleet: dropped %s: %s", what, exc)
            self._outbox.popleft()

    # -- metrics ------------------------------------------------------------------------------

    @property
    def metrics(self) -> WorldMetrics:
        """The world's metrics (a snapshot), with samples_published from the agents' PUBACKed samples."""
        published = sum(agent.stats.samples_acked for agent in self.agents.values())
        return dataclasses.replace(
            self.world.metrics, samples_published=published, by_fault=dict(self.world.metrics.by_fault)
        )

    @property
    def simulated_hours(self) -> float:
        """Event time the world has advanced since it started."""
        return (self.now - self.world.start) / 3600.0

    @property
    def pending_visits(self) -> int:
        return len(self._visits) + self._inbox.qsize()
