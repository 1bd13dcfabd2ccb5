"""The worker's Prometheus metrics, in a registry of its own (several workers may share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from forestall.contract import REJECTION_REASONS


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.rejected = Counter(
            "forestall_ingest_rejected_total",
            "Messages or samples rejected, by reason",
            ["reason"],
            registry=self.registry,
        )
        for reason in REJECTION_REASONS:
            self.rejected.labels(reason=reason)
        self.duplicates = Counter(
            "forestall_ingest_duplicates_total",
            "Telemetry batches dropped as duplicates",
            registry=self.registry,
        )
        self.seq_resets = Counter(
            "forestall_ingest_seq_resets_total",
            "Telemetry sequences restarted by a device",
            registry=self.registry,
        )
        self.messages = Counter(
            "forestall_ingest_messages_total",
            "MQTT messages received, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.devices_disabled = Counter(
            "forestall_devices_disabled_total",
            "Flooding devices disabled at the broker (worker.guard_url), or attempts that failed",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("disabled", "failed"):
            self.devices_disabled.labels(outcome=outcome)
        self.samples = Counter("forestall_ingest_samples_total", "Samples stored", registry=self.registry)
        self.store_errors = Counter(
            "forestall_store_errors_total", "Failed writes to the telemetry store", registry=self.registry
        )
        self.queue = Gauge(
            "forestall_ingest_queue_messages",
            "Messages received but not yet processed",
            registry=self.registry,
        )
        self.recommendations = Counter(
            "forestall_recommendations_opened_total", "Visit recommendations opened", registry=self.registry
        )
        self.lag = Histogram(
            "forestall_ingest_lag_seconds",
            "Wall time from a batch's newest sample time to its commit in the store (live: latency)",
            ["tenant"],
            registry=self.registry,
            buckets=(
                0.005,
                0.01,
                0.025,
                0.05,
                0.1,
                0.2,
                0.3,
                0.5,
                0.75,
                1,
                2,
                5,
                10,
                30,
                60,
                300,
                float("inf"),
            ),
        )
