"""The MQTT side of the agent: one paho-mqtt 2 client with its network thread (``loop_start``).

- Persistent session (MQTT 3.1.1 ``clean_session=False``; MQTT 5 ``clean_start=False`` with a
  session expiry), so QoS 1 messages in flight survive a reconnect: paho re-sends them,
  in order, and the broker keeps queued commands for us while we are away.
- The will is the retained ``offline`` status; ``stop()`` publishes it itself before a clean
  disconnect (which does not fire the will).
- Reconnects use paho's exponential backoff; each client draws its own bounds around the
  configured ones (jitter), so a fleet that lost its broker does not return in lockstep.
- At most ``max_inflight`` telemetry batches wait for their PUBACK. ``on_acked(seq)`` runs
  on paho's network thread; no lock of ours is held while calling into paho, because paho
  holds its own lock while it runs ``on_publish``.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge_agent.config import AgentConfig
from edge_agent.drivers.base import ConfigError
from forestall.contract import topic
from forestall.mqttclient import make_client
from forestall.mqtturl import parse_mqtt_url

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 86400  # MQTT 5: keep our session (and queued commands) for a week
_UNKNOWN = -2  # marker: a PUBACK for a message we have not registered yet


class Publisher:
    """Publishes batches, status and acks for one asset; hands commands to ``on_command``."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        will: bytes,
        on_acked: Callable[[int], None],
        on_command: Callable[[bytes], None],
    ) -> None:
        self._config = config
        tenant, asset = config.agent.tenant, config.agent.asset
        self.topics = {kind: topic(tenant, asset, kind) for kind in ("telemetry", "status", "cmd", "ack")}
        self._will = will
        self._on_acked = on_acked
        self._on_command = on_command
        self._lock = threading.Lock()
        self._inflight: dict[int, int] = {}  # mid -> seq (-1: status or ack, not a batch)
        self._early: dict[int, bool] = {}  # mid -> PUBACK ok, for PUBACKs that beat publish() back
        self._sent: set[int] = set()  # seqs handed to paho and not yet acknowledged
        self._held: set[int] = set()  # seqs the broker refused; retried after the next connect
        self._connected = False
        self._connects = 0
        self._stopping = False
        self._client: mqtt.Client | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; a broker that is down is retried, never an error."""
        client = self._build_client()
        settings, endpoint = self._config.mqtt, parse_mqtt_url(self._config.mqtt.url)
        properties = None
        if settings.protocol == "5":
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it unannotated
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
        # clean_start matters for MQTT 5 only (3.1.1 uses the client's clean_session=False).
        client.connect_async(
            endpoint.host, endpoint.port, settings.keepalive_s, clean_start=False, properties=properties
        )
        client.loop_start()
        self._client = client

    def stop(self, final_status: bytes | None = None, timeout: float = 5.0) -> None:
        """Publish ``final_status`` (retained) if connected, then disconnect and stop the thread."""
        client, self._client = self._client, None
        if client is None:
            return
        self._stopping = True
        if final_status is not None and self.connected:
            info = client.publish(self.topics["status"], final_status, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.warning("could not publish the offline status: %s", exc)
        client.disconnect()
        client.loop_stop()
        with self._lock:
            self._connected = False

    # ---- state ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        with self._lock:
            return self._connected

    @property
    def connects(self) -> int:
        """How many times a connection succeeded (a change means: announce ourselves again)."""
        with self._lock:
            return self._connects

    def busy(self) -> set[int]:
        """Seqs not to hand out again now: in flight, or refused during this connection."""
        with self._lock:
            return self._sent | self._held

    def free_slots(self) -> int:
        with self._lock:
            return self._config.mqtt.max_inflight - len(self._sent)

    # ---- publishing ----------------------------------------------------------------------

    def publish_batch(self, seq: int, payload: bytes) -> bool:
        """Hand one telemetry batch to paho (QoS 1); False if paho would not take it."""
        client = self._client
        if client is None:
            return False
        info = client.publish(self.topics["telemetry"], payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            log.warning("paho refused batch %d: %s", seq, mqtt.error_string(info.rc))
            return False
        self._register(info.mid, seq)
        return True

    def publish_status(self, payload: bytes) -> None:
        self._publish_other(self.topics["status"], payload, retain=True)

    def publish_ack(self, payload: bytes) -> None:
        self._publish_other(self.topics["ack"], payload, retain=False)

    def _publish_other(self, name: str, payload: bytes, *, retain: bool) -> None:
        client = self._client
        if client is not None:
            info = client.publish(name, payload, qos=1, retain=retain)
            self._register(info.mid, -1)

    def _register(self, mid: int, seq: int) -> None:
        with self._lock:
            ok = self._early.pop(mid, None)
            if ok is None:
                self._inflight[mid] = seq
                if seq >= 0:
                    self._sent.add(seq)
        if ok is not None:
            self._settle(seq, ok)

    def _settle(self, seq: int, ok: bool) -> None:
        if seq < 0:
            return
        if ok:
            self._on_acked(seq)
            return
        with self._lock:
            self._held.add(seq)
        log.warning("the broker refused telemetry batch %d; it stays buffered", seq)

    # ---- paho callbacks (network thread) -------------------------------------------------

    def _build_client(self) -> mqtt.Client:
        settings = self._config.mqtt
        try:
            client = make_client(
                settings.url,
                self._config.client_id,
                username=settings.username,
                password=settings.password,
                ca_file=settings.ca_file,
                cert_file=settings.cert_file,
                key_file=settings.key_file,
                persistent=True,
                protocol=settings.protocol,
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(f"mqtt.ca_file/cert_file/key_file: cannot load: {exc}") from exc
        client.will_set(self.topics["status"], self._will, qos=1, retain=True)
        jitter = random.uniform(0.5, 1.5)
        # paho treats the delays as plain seconds; floats give the jitter finer grain.
        client.reconnect_delay_set(
            min_delay=settings.reconnect_min_s * jitter,  # type: ignore[arg-type]
            max_delay=max(settings.reconnect_min_s, settings.reconnect_max_s * random.uniform(0.8, 1.0)),  # type: ignore[arg-type]
        )
        client.max_inflight_messages_set(settings.max_inflight + 10)  # room for status and acks
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused the connection: %s", reason)
            return
        client.subscribe(self.topics["cmd"], qos=1)
        with self._lock:
            self._connected = True
            self._connects += 1
            self._held.clear()
        log.info("connected to %s (session present: %s)", self._config.mqtt.url, flags.session_present)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        with self._lock:
            was_connected, self._connected = self._connected, False
        if was_connected and not self._stopping:
            log.warning("disconnected from the broker (%s); buffering until it is back", reason)

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties
    ) -> None:
        ok = not reason.is_failure
        with self._lock:
            seq = self._inflight.pop(mid, _UNKNOWN)
            if seq == _UNKNOWN:
                self._early[mid] = ok
                return
            self._sent.discard(seq)
        self._settle(seq, ok)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic != self.topics["cmd"]:
            # Only our own cmd topic is subscribed; a broker delivering anything else is ignored.
            log.debug("ignoring a message on %s", message.topic)
            return
        self._on_command(bytes(message.payload))
