"""The ``mqtt`` source: the whole stream of an MQTT broker, acknowledged after the commit.

One persistent session (``mqtt.client_id``, default ``forestall-<worker>``) subscribes at QoS 1
to the telemetry, status and ack topics of every tenant (through ``$share/<group>/`` when
``mqtt.share_group`` is set) and acknowledges by hand (``manual_ack``): a message the worker has
not committed is delivered again after a crash or a reconnect, instead of lost. paho's network
thread (``ingest/client.py``) hands each message on, and waits while the worker's inbox is full
— the broker then holds the rest, unacknowledged. The client reconnects by itself (1 to 30 s)
and subscribes again on each connection.

A message's partition is ``crc32("{tenant}/{asset}") % worker.partitions`` of its topic's
segments (``ingest.pipeline.owner``), the same for every worker: each reads the whole stream and
keeps its own partition's share. MQTT has no stream position, so ``stream_seq`` is None; the
ack token is the message's packet id (None at QoS 0, which has nothing to acknowledge).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import paho.mqtt.client as mqtt

from forestall.mqttclient import make_client
from forestall.mqtturl import parse_mqtt_url
from forestall.settings import Settings
from ingest.client import IngestClient
from ingest.pipeline import owner
from ingest.sources.base import Deliver, Received

log = logging.getLogger(__name__)
KINDS = ("telemetry", "status", "ack")


def topic_filters(share_group: str | None) -> list[str]:
    """What the worker subscribes to.

    >>> topic_filters(None)
    ['forestall/v1/+/+/telemetry', 'forestall/v1/+/+/status', 'forestall/v1/+/+/ack']
    >>> topic_filters("workers")[0]
    '$share/workers/forestall/v1/+/+/telemetry'
    """
    topics = [f"forestall/v1/+/+/{kind}" for kind in KINDS]
    return [f"$share/{share_group}/{topic}" for topic in topics] if share_group else topics


def received(topic: str, payload: bytes, mid: int, qos: int, partitions: int) -> Received:
    """A message as the worker takes it, at the receive time of now.

    >>> r = received("forestall/v1/acme/pump-1/telemetry", b"{}", 7, 1, 4)
    >>> (r.tenant, r.asset, r.partition == owner("acme", "pump-1", 4), r.stream_seq, r.ack)
    ('acme', 'pump-1', True, None, 7)
    >>> r = received("forestall/v1/acme", b"", 8, 0, 1)
    >>> (r.tenant, r.asset, r.partition, r.ack)
    ('acme', None, 0, None)
    """
    parts = topic.split("/")
    tenant = parts[2] if len(parts) > 2 else ""
    asset = parts[3] if len(parts) == 5 else None
    partition = 0 if partitions == 1 else owner(tenant, asset or "", partitions)
    return Received(topic, payload, time.time(), tenant, asset, partition, None, mid if qos == 1 else None)


class MqttSource:
    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = settings
        self.name = name
        self._partitions = settings.worker.partitions
        self._filters = topic_filters(settings.mqtt.share_group)
        self._deliver: Deliver | None = None
        self.ready = threading.Event()  # set once the broker has acknowledged every subscription
        self._subscriptions = 0
        self._client = self._make_client(settings, name)

    @property
    def connected(self) -> bool:
        return bool(self._client.is_connected())

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        endpoint = parse_mqtt_url(self.settings.mqtt.url)
        self._client.connect_async(endpoint.host, endpoint.port, keepalive=self.settings.mqtt.keepalive_s)
        self._client.loop_start()

    def ack(self, items: Sequence[Received]) -> None:
        self._client.ack_many([item.ack for item in items if isinstance(item.ack, int)])

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _make_client(self, settings: Settings, name: str) -> IngestClient:
        mq = settings.mqtt
        client = make_client(
            mq.url,
            mq.client_id or f"forestall-{name}",
            ca_file=mq.ca_file,
            cert_file=mq.cert_file,
            key_file=mq.key_file,
            persistent=True,
            client_class=IngestClient,
            manual_ack=True,
        )
        assert isinstance(client, IngestClient)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, _flags: object, reason: object, _props: object = None
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("MQTT connect refused: %s", reason)
            return
        self._subscriptions = 0
        for topic in self._filters:
            client.subscribe(topic, qos=1)
        log.info("worker %s subscribed", self.name)

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: object, _mid: int, _reasons: object, _props: object = None
    ) -> None:
        self._subscriptions += 1
        if self._subscriptions >= len(self._filters):
            self.ready.set()

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        assert self._deliver is not None  # set before the client starts
        self._deliver(received(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._partitions))
