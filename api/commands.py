"""Publish device commands (``cmd``, docs/ARCHITECTURE.md, MQTT topics and payloads) on MQTT for the API.

One paho client per app, connected on first use and kept (paho reconnects it). A command
counts as sent once the broker has acknowledged it (PUBACK, QoS 1); the device's ``ack``
reaches the state DB through the ingest worker, which marks the ``commands`` row.

Errors: ``CommandPublishError`` (retryable: the broker is unreachable or did not confirm).
"""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt

from forestall.contract import Command, command_payload, topic
from forestall.mqttclient import make_client
from forestall.mqtturl import parse_mqtt_url
from forestall.settings import MqttSettings


class CommandPublishError(Exception):
    """The command could not be handed to the broker; retrying later may work."""


class CommandPublisher:
    def __init__(self, settings: MqttSettings, *, timeout_s: float = 5.0) -> None:
        self.settings = settings
        self.endpoint = parse_mqtt_url(settings.url)
        self.timeout_s = timeout_s
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()

    def publish(self, tenant: str, asset_id: str, command: Command) -> None:
        """Send ``command`` to the asset; returns once the broker confirmed it (QoS 1)."""
        client = self._connected()
        info = client.publish(topic(tenant, asset_id, "cmd"), command_payload(command), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise CommandPublishError(f"publish refused: {mqtt.error_string(info.rc)}")
        try:
            info.wait_for_publish(self.timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise CommandPublishError(f"publish failed: {exc}") from exc
        if not info.is_published():
            raise CommandPublishError(f"the broker did not confirm within {self.timeout_s:g} s")

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def _connected(self) -> mqtt.Client:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
                try:
                    self._client.connect_async(
                        self.endpoint.host, self.endpoint.port, keepalive=self.settings.keepalive_s
                    )
                except (OSError, ValueError) as exc:
                    self._client = None
                    raise CommandPublishError(f"cannot reach the MQTT broker: {exc}") from exc
                self._client.loop_start()
            client = self._client
        deadline = time.monotonic() + self.timeout_s
        while not client.is_connected():
            if time.monotonic() > deadline:
                raise CommandPublishError(
                    f"the MQTT broker at {self.endpoint.host}:{self.endpoint.port} is unreachable"
                )
            time.sleep(0.02)
        return client

    def _make_client(self) -> mqtt.Client:
        client_id = f"{self.settings.client_id or 'forestall'}-api-{time.time_ns():x}"
        mq = self.settings
        client = make_client(
            mq.url, client_id, ca_file=mq.ca_file, cert_file=mq.cert_file, key_file=mq.key_file
        )
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        return client
