"""The one place an MQTT client is built: edge agent, worker, API, replays and simulators.

The URL (``mqtt://`` / ``mqtts://``, credentials in it) and optional explicit credentials and
TLS files decide the connection: TLS when the URL says ``mqtts://`` or a CA file is given, with
the CA, the client certificate and its key passed through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from forestall.mqtturl import parse_mqtt_url


def make_client(
    url: str,
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_file: Path | str | None = None,
    cert_file: Path | str | None = None,
    key_file: Path | str | None = None,
    persistent: bool = False,
    protocol: str = "3.1.1",
    client_class: type[mqtt.Client] = mqtt.Client,
    **options: Any,
) -> mqtt.Client:
    """A paho client for ``url``, not connected yet; ``persistent`` keeps the session (QoS 1 queued
    for it while away). Raises ValueError for a bad URL and OSError for TLS files it cannot load."""
    endpoint = parse_mqtt_url(url)
    v5 = protocol == "5"
    client = client_class(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if v5 else not persistent,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        **options,
    )
    user = username or endpoint.username
    if user:
        client.username_pw_set(user, password or endpoint.password)
    if endpoint.tls or ca_file:
        client.tls_set(
            ca_certs=str(ca_file) if ca_file else None,
            certfile=str(cert_file) if cert_file else None,
            keyfile=str(key_file) if key_file else None,
        )
    return client
