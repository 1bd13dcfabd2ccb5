"""The worker's Prometheus metrics, in a registry of its own (several workers may share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

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
