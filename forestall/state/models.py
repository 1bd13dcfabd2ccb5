"""State DB tables (SQLAlchemy 2): the hub between the worker, the API and the simulators.

Times are Unix epoch seconds (float). Columns named ``*_at`` hold *event time* (sample
time, see ``event_clock``) unless their comment says wall clock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKeyConstraint, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, list[str]: JSON}


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public prefix of the key
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | dispatcher | fsm | grafana
    key_hash: Mapped[str] = mapped_column(String(128))  # sha256 hex of the whole key
    name: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[float] = mapped_column(Float)  # wall clock
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Customer(Base):
    __tablename__ = "customers"
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    segment: Mapped[str] = mapped_column(String(32), default="standard")
    sla_tier: Mapped[str] = mapped_column(String(32), default="silver")
    visit_sensitivity: Mapped[float] = mapped_column(Float, default=0.5)
    created_at: Mapped[float] = mapped_column(Float)  # wall clock


class Asset(Base):
    __tablename__ = "assets"
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)  # None: unassigned
    asset_type: Mapped[str] = mapped_column(String(64), default="unknown")
    site: Mapped[str | None] = mapped_column(String(128))
    criticality: Mapped[int] = mapped_column(Integer, default=3)
    safety_critical: Mapped[bool] = mapped_column(Boolean, default=False)
    online: Mapped[bool | None] = mapped_column(Boolean)  # None: never heard from
    online_since: Mapped[float | None] = mapped_column(Float)
    last_seen_at: Mapped[float | None] = mapped_column(Float)
    agent_status: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)  # wall clock


class Technician(Base):
    """A technician or crew: what they can serve and when they work (forestall.workhours)."""

    __tablename__ = "technicians"
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The API requires at least one skill and one region (a technician with none is refused).
    skills: Mapped[list[str]] = mapped_column(JSON)  # asset types
    regions: Mapped[list[str]] = mapped_column(JSON)  # sites or region labels
    timezone: Mapped[str] = mapped_column(String(64))  # IANA zone of the working hours
    hours: Mapped[dict[str, Any]] = mapped_column(JSON)  # weekday -> [[HH:MM, HH:MM], ...]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float)  # wall clock


class EventClock(Base):
    """Each tenant's event clock: the latest sample time seen, so every process agrees on now."""

    __tablename__ = "event_clock"
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    now: Mapped[float] = mapped_column(Float)


class Event(Base):
    """Append-only facts written by the API, read by the worker in increasing id order.

    kind: outcome (of a visit) | maintenance | incident | feedback | contract (ended or downgraded) |
    asset_assigned
    """

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    asset_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    recorded_at: Mapped[float] = mapped_column(Float)  # wall clock
    __table_args__ = (
        Index("ix_events_tenant_customer", "tenant", "customer_id", "occurred_at"),
        Index("ix_events_tenant_asset", "tenant", "asset_id", "occurred_at"),
    )


class AssetHealth(Base):
    """The latest health snapshot of each asset (history goes to the telemetry store)."""

    __tablename__ = "asset_health"
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[float] = mapped_column(Float)
    anomaly_score: Mapped[float] = mapped_column(Float)
    failure_probability: Mapped[float] = mapped_column(Float)
    ttf_hours: Mapped[float | None] = mapped_column(Float)
    ttf_low_hours: Mapped[float | None] = mapped_column(Float)
    ttf_high_hours: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(32))
    top_sensors: Mapped[list[str]] = mapped_column(JSON, default=list)
    drift: Mapped[bool] = mapped_column(Boolean, default=False)


class CustomerRisk(Base):
    """The latest Experience index of each customer: the probability (%) of a negative outcome
    within 30 days, its contributions (the base rate and the drivers') and the model in force."""

    __tablename__ = "customer_risk"
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[float] = mapped_column(Float)
    risk_index: Mapped[float] = mapped_column(Float)
    contributions: Mapped[dict[str, Any]] = mapped_column(JSON)
    model: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {in_force, outcomes, customer_days}


class RiskWeights(Base):
    """A tenant's prior weights of the Experience index (fixed-index points) and its threshold."""

    __tablename__ = "risk_weights"
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    weights: Mapped[dict[str, Any]] = mapped_column(JSON)
    threshold_percent: Mapped[float] = mapped_column(Float, default=50.0)


class ExperienceState(Base):
    """Each tenant's Experience index model (``predictor.experience``): the parameters every
    process computes the index with, and the learner's checkpoint (its posterior and counts)."""

    __tablename__ = "experience_state"
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)  # IndexParams.to_json: in force
    learner: Mapped[dict[str, Any]] = mapped_column(JSON)  # ExperienceModel.to_state
    snapshot_at: Mapped[float | None] = mapped_column(Float)  # the newest customer-days taken
    covered_until: Mapped[float | None] = mapped_column(Float)  # outcomes counted up to here
    updated_at: Mapped[float] = mapped_column(Float)


class ExperienceSnapshot(Base):
    """A customer-day: the drivers' evidence at the start of a day of the tenant's event time and
    the index it was given; learnt, with its label, once 30 days have passed."""

    __tablename__ = "experience_snapshots"
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[float] = mapped_column(Float, primary_key=True)
    segment: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON)
    risk_index: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_experience_snapshots_tenant_at", "tenant", "at"),)


class Recommendation(Base):
    __tablename__ = "recommendations"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    customer_id: Mapped[str | None] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(128))
    asset_ids: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # open accepted scheduled completed dismissed ...
    kind: Mapped[str] = mapped_column(String(16), default="failure", server_default="failure")  # vocab
    priority: Mapped[str] = mapped_column(String(2))  # P1..P4
    priority_score: Mapped[float] = mapped_column(Float)
    reason: Mapped[dict[str, Any]] = mapped_column(JSON)
    predicted_failure_at: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    window_start: Mapped[float] = mapped_column(Float)
    window_end: Mapped[float] = mapped_column(Float)
    sla_due_at: Mapped[float] = mapped_column(Float)
    fits_sla: Mapped[bool] = mapped_column(Boolean)
    risk_index: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="predictor")  # predictor | manual
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    scheduled_for: Mapped[float | None] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float)
    close_reason: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Its place in the technicians' plan (predictor.capacity): rank, harm and its factors, the
    # technician and slot booked (or, when overbooked, the earliest that would fit). None: the
    # tenant has no technicians registered, or it is not a failure visit waiting for one.
    capacity: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    overbooked: Mapped[bool | None] = mapped_column(Boolean)  # no slot fits before its deadline
    __table_args__ = (
        Index("ix_recommendations_tenant_status", "tenant", "status", "created_at"),
        Index("ix_recommendations_tenant_kind", "tenant", "kind", "created_at"),
    )


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSON)  # empty list: every event type
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float)  # wall clock


class OutboxEvent(Base):
    """A webhook event, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(String(40), unique=True)  # the idempotency key
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(40))
    timestamp: Mapped[float] = mapped_column(Float)  # event time
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)  # wall clock
    fanned_out: Mapped[bool] = mapped_column(Boolean, default=False)


class WebhookDelivery(Base):
    """One outbox event to one subscription; retried with backoff until delivered or dead."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(Integer)
    subscription_id: Mapped[str] = mapped_column(String(40))
    tenant: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending delivered dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)  # wall clock
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_duration_ms: Mapped[float | None] = mapped_column(Float)
    delivered_at: Mapped[float | None] = mapped_column(Float)  # wall clock
    __table_args__ = (
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_subscription", "subscription_id", "id"),
        ForeignKeyConstraint(["outbox_id"], ["outbox.id"]),
    )


class DeliveryAttempt(Base):
    __tablename__ = "webhook_attempts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(Integer, index=True)
    at: Mapped[float] = mapped_column(Float)  # wall clock
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[float] = mapped_column(Float)


class Rejection(Base):
    """A message ingest rejected, kept for inspection with its reason."""

    __tablename__ = "ingest_rejections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str | None] = mapped_column(String(64), index=True)
    asset_id: Mapped[str | None] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text)
    received_at: Mapped[float] = mapped_column(Float, index=True)  # wall clock; retention reads it
    excerpt: Mapped[str] = mapped_column(Text)


class IngestSequence(Base):
    """Per-asset high-water mark of telemetry ``seq`` (dedupe survives a worker restart)."""

    __tablename__ = "ingest_sequences"
    # The tenant's event clock is read off its assets' newest sample times (``repo.tenant_clock``).
    __table_args__ = (Index("ix_ingest_sequences_tenant_max_ts", "tenant", "max_ts"),)
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    high_water: Mapped[int] = mapped_column(BigInteger)  # the contract's seq is below 2**63
    max_ts: Mapped[float | None] = mapped_column(Float)  # newest sample time seen


class Command(Base):
    __tablename__ = "commands"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    asset_id: Mapped[str] = mapped_column(String(64))
    op: Mapped[str] = mapped_column(String(32))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # sent | acked | failed
    created_at: Mapped[float] = mapped_column(Float)  # wall clock
    acked_at: Mapped[float | None] = mapped_column(Float)  # wall clock
    error: Mapped[str | None] = mapped_column(Text)


class WorkerCursor(Base):
    """How far a worker partition has read the events table."""

    __tablename__ = "worker_cursors"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer)
