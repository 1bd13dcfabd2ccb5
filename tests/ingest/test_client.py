"""IngestClient on a real Mosquitto: buffered reads lose and reorder nothing, ack_many acknowledges."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ingest.client import IngestClient
from tests.conftest import Mosquitto
from tests.support import wait_for

TOPIC = "forestall/v1/acme/{}/telemetry"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[int, bytes]] = []
        self.lock = threading.Lock()

    def __call__(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.mid, bytes(msg.payload)))


def subscriber(broker: Mosquitto, inbox: Inbox) -> IngestClient:
    client = IngestClient(
        CallbackAPIVersion.VERSION2,
        client_id="test-ingest-client",
        clean_session=False,
        protocol=mqtt.MQTTv311,
        manual_ack=True,
    )
    client.on_message = inbox
    client.on_connect = lambda c, *_: c.subscribe(TOPIC.format("+"), qos=1)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    assert wait_for(client.is_connected)
    time.sleep(0.3)  # the subscription settles
    return client


def publish_all(broker: Mosquitto, payloads: list[bytes]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-ingest-client-pub")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    infos = [client.publish(TOPIC.format(f"p{i % 7}"), p, qos=1) for i, p in enumerate(payloads)]
    for info in infos:
        info.wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def test_a_burst_arrives_whole_and_in_order_and_only_unacked_messages_come_back(
    mosquitto: Mosquitto,
) -> None:
    # Sizes around the read buffer's edges: packets split across reads must come out whole.
    payloads = [b"x" * (i % 300) + str(i).encode() for i in range(3000)] + [b"y" * 100_000]
    held = 50  # left unacknowledged (the broker's in-flight limit here is 100)
    inbox = Inbox()
    client = subscriber(mosquitto, inbox)
    client.disconnect()
    client.loop_stop()
    publish_all(mosquitto, payloads)  # queued for the session: it comes in bursts of many packets a read
    client = subscriber(mosquitto, inbox)
    acked, deadline = 0, time.monotonic() + 60
    while acked < len(payloads) - held and time.monotonic() < deadline:
        with inbox.lock:
            mids = [mid for mid, _ in inbox.messages[acked : len(payloads) - held]]
        client.ack_many(mids)
        acked += len(mids)
        time.sleep(0.01)
    assert wait_for(lambda: len(inbox.messages) == len(payloads))
    assert [payload for _, payload in inbox.messages] == payloads
    time.sleep(0.5)  # the PUBACKs reach the broker
    client.disconnect()
    client.loop_stop()

    again = Inbox()
    client = subscriber(mosquitto, again)  # same client id, persistent session: unacked ones return
    try:
        assert wait_for(lambda: len(again.messages) == held)
        time.sleep(0.3)
        assert [payload for _, payload in again.messages] == payloads[-held:]
    finally:
        client.disconnect()
        client.loop_stop()


def test_per_topic_callbacks_still_go_through_paho(mosquitto: Mosquitto) -> None:
    inbox, filtered = Inbox(), Inbox()
    client = subscriber(mosquitto, inbox)
    client.message_callback_add(TOPIC.format("p1"), filtered)
    try:
        publish_all(mosquitto, [b"a", b"b", b"c"])  # to p0, p1, p2
        assert wait_for(lambda: len(inbox.messages) == 2 and len(filtered.messages) == 1)
        assert [p for _, p in filtered.messages] == [b"b"]
    finally:
        client.disconnect()
        client.loop_stop()
