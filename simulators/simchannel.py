"""The sim channel: MQTT topics between the simulated world and the simulated FSM system.

Sim-only; no production component reads them (see ``simulators/README.md``)::

    forestall-sim/v1/{tenant}/{asset}/visit    FSM -> world  a technician will arrive at ``at``
    forestall-sim/v1/{tenant}/{asset}/report   world -> FSM  what the technician found and did
    forestall-sim/v1/{tenant}/{asset}/failure  world -> FSM  the machine failed at ``at``

Payloads are JSON objects, ``at`` in epoch seconds of event time; QoS 1, not retained.

>>> sim_topic("demo", "pump-0001", "visit")
'forestall-sim/v1/demo/pump-0001/visit'
>>> parse_sim_topic("forestall-sim/v1/demo/pump-0001/report")
('demo', 'pump-0001', 'report')
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any, Final

import paho.mqtt.client as mqtt

from forestall.contract import ID_RE
from forestall.mqttclient import make_client
from forestall.mqtturl import parse_mqtt_url

log = logging.getLogger(__name__)

SIM_ROOT: Final = "forestall-sim/v1"
SIM_KINDS: Final = ("visit", "report", "failure")
VISIT_KINDS: Final = ("preventive", "corrective", "sensor_check")

MessageHandler = Callable[[str, str, dict[str, Any]], None]  # (asset, kind, payload)


class SimChannelError(Exception):
    """The sim channel could not connect or publish."""


def sim_topic(tenant: str, asset: str, kind: str) -> str:
    if not ID_RE.fullmatch(tenant) or not ID_RE.fullmatch(asset) or kind not in SIM_KINDS:
        raise ValueError(f"invalid sim topic parts {tenant!r}/{asset!r}/{kind!r}")
    return f"{SIM_ROOT}/{tenant}/{asset}/{kind}"


def parse_sim_topic(name: str) -> tuple[str, str, str]:
    parts = name.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != SIM_ROOT or parts[4] not in SIM_KINDS:
        raise ValueError(f"not a sim topic: {name[:120]!r}")
    return parts[2], parts[3], parts[4]


class SimChannel:
    """One paho-mqtt 2 client (QoS 1, persistent session) subscribed to some sim kinds of a tenant.

    ``handler(asset, kind, payload)`` runs on paho's network thread: keep it short (queue the work).
    """

    def __init__(
        self,
        mqtt_url: str,
        tenant: str,
        client_id: str,
        listen: tuple[str, ...],
        handler: MessageHandler,
    ) -> None:
        self.endpoint = parse_mqtt_url(mqtt_url)
        self.tenant = tenant
        self._listen = listen
        self._handler = handler
        self._connected = threading.Event()
        self._client: mqtt.Client = make_client(mqtt_url, client_id, persistent=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self.received = 0
        self.malformed = 0

    def start(self, timeout: float = 15.0) -> None:
        try:
            self._client.connect_async(self.endpoint.host, self.endpoint.port, keepalive=30)
        except (OSError, ValueError) as exc:
            where = f"{self.endpoint.host}:{self.endpoint.port}"
            raise SimChannelError(f"cannot connect to {where}: {exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(timeout):
            self.stop()
            raise SimChannelError(f"no MQTT connection to {self.endpoint.host}:{self.endpoint.port}")

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def publish(self, asset: str, kind: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
        info = self._client.publish(sim_topic(self.tenant, asset, kind), body, qos=1)
        # Queued in paho's session while disconnected: delivered after reconnecting.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise SimChannelError(f"publish to {asset}/{kind} failed: {mqtt.error_string(info.rc)}")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            log.warning("sim channel connect refused: %s", reason)
            return
        if not self._listen:
            self._connected.set()
            return
        client.subscribe([(f"{SIM_ROOT}/{self.tenant}/+/{kind}", 1) for kind in self._listen])

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._connected.set()  # ready: nothing published to us from now on is missed

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            _, asset, kind = parse_sim_topic(message.topic)
            payload = json.loads(message.payload)
            if not isinstance(payload, dict):
                raise ValueError("payload is not an object")
        except ValueError as exc:
            self.malformed += 1
            log.warning("sim channel: dropped message on %s: %s", message.topic, exc)
            return
        self.received += 1
        try:
            self._handler(asset, kind, payload)
        except Exception:  # a bad message must not kill paho's network thread
            log.exception("sim channel handler failed for %s", message.topic)
