"""Ingest: MQTT stream → validated, deduplicated samples in the TelemetryStore."""
