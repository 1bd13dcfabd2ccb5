"""The worker's MQTT client: paho-mqtt, tuned for a subscriber taking thousands of small messages a second.

paho reads each packet with three or more ``recv`` calls after a ``select`` of its own, and
queues each PUBACK as a packet of its own (one wake-up and one ``send`` each). With 1-sample
telemetry batches that was most of the worker's network thread (ingest/README.md, Throughput).
This client reads the socket in blocks and hands paho its packets from that buffer, skips
paho's per-topic callback matching (the worker has one ``on_message``), and acknowledges a
whole chunk of messages with one write. It overrides private methods of paho-mqtt 2.x
(``_sock_recv``, ``_handle_on_message``; it calls ``_packet_queue``), pinned below 3 in
pyproject.toml; tests/ingest/test_client.py guards them.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

RECV_BYTES = 64 * 1024
_PUBACK = struct.Struct("!BBH")  # fixed header, remaining length 2, packet id


class IngestClient(mqtt.Client):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._rsock: object = None
        self._filtered = False  # whether message_callback_add() was used

    def message_callback_add(self, sub: str, callback: Any) -> None:
        self._filtered = True
        super().message_callback_add(sub, callback)

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._sock is not self._rsock:  # a new connection: what the old one left is void
            self._rsock, self._rbuf, self._rpos = self._sock, b"", 0
        pos = self._rpos
        if pos >= len(self._rbuf):
            data: bytes = super()._sock_recv(RECV_BYTES)
            if len(data) <= bufsize:
                return data
            self._rbuf, pos = data, 0
        self._rpos = pos + bufsize
        return self._rbuf[pos : pos + bufsize]

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc: MQTTErrorCode = super().loop_read(max_packets)
        # select() sees only the socket, not this buffer: hand on the packets already read.
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._sock is not None and self._buffered():
            rc = super().loop_read(max_packets)
        return rc

    def _buffered(self) -> bool:
        return self._rpos < len(self._rbuf)

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        if self._filtered:
            super()._handle_on_message(message)
            return
        on_message = self.on_message
        if on_message is not None:
            with self._in_callback_mutex:
                on_message(self, self._userdata, message)

    def ack_many(self, mids: Sequence[int]) -> None:
        """Acknowledge QoS 1 messages (``manual_ack``) with one write instead of a packet each."""
        if mids:
            packet = b"".join([_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids])
            self._packet_queue(mqtt.PUBACK, packet, 0, 0)
