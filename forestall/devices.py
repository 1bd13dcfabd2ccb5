"""Device credentials on the broker, through Mosquitto's dynamic security plugin.

Every device gets its own broker client (username ``<tenant>.<asset>``, a random password, bound to
the edge agent's client id) with its own role: publish only its own ``telemetry``, ``status`` and
``ack``, subscribe only to its own ``cmd``. The plugin's default access denies every other
publish and subscribe, so one credential cannot speak for another asset or tenant, nor read
another's commands. The worker and the API get service roles of their own, and the worker's guard
one that may disable a device that floods.

Why dynamic security rather than a password file with ACL patterns: devices are added, disabled
(a device that floods, or was stolen) and removed while the broker runs, by a JSON command over
MQTT (``$CONTROL/dynamic-security/v1``), without a restart or a reload, and ``disableClient``
also disconnects the device at once. A password file with ACL patterns needs the broker to reload
it for every device added or removed.

The commands are pure data (``device_commands`` …); ``DynSec`` sends them and reads the answers.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from forestall.contract import ID_RE, TOPIC_ROOT, edge_client_id, topic
from forestall.mqttclient import make_client
from forestall.mqtturl import parse_mqtt_url

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
ALREADY_EXISTS = ("Role already exists", "Client already exists")  # the plugin's answers to a repeat
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
DEVICE_SENDS = ("telemetry", "status", "ack")
# Made only when asked for (a password given): the demo profile's simulated fleet and FSM system,
# which speak for every device of the demo tenant and over the simulator's own world channel.
SIMULATOR_ROLE = "forestall-simulator"
SIMULATOR_ACLS: Sequence[Mapping[str, Any]] = (
    *(
        {"acltype": "publishClientSend", "topic": f"{TOPIC_ROOT}/demo/+/{kind}", "allow": True}
        for kind in DEVICE_SENDS
    ),
    {"acltype": "subscribePattern", "topic": f"{TOPIC_ROOT}/demo/+/cmd", "allow": True},
    {"acltype": "publishClientReceive", "topic": f"{TOPIC_ROOT}/demo/+/cmd", "allow": True},
    {"acltype": "publishClientSend", "topic": "forestall-sim/v1/#", "allow": True},
    {"acltype": "subscribePattern", "topic": "forestall-sim/v1/#", "allow": True},
    {"acltype": "publishClientReceive", "topic": "forestall-sim/v1/#", "allow": True},
)
# Where Debian's mosquitto package puts the plugin (the compose image: /usr/lib/…, as configured)
DYNSEC_PLUGINS = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
)
SERVICE_ROLES: Mapping[str, Sequence[Mapping[str, Any]]] = {
    # the worker reads every tenant's device topics (plain or shared subscription)
    "forestall-worker": (
        {"acltype": "subscribePattern", "topic": f"{TOPIC_ROOT}/#", "allow": True},
        {"acltype": "publishClientReceive", "topic": f"{TOPIC_ROOT}/#", "allow": True},
    ),
    # the API sends commands to devices
    "forestall-api": ({"acltype": "publishClientSend", "topic": f"{TOPIC_ROOT}/+/+/cmd", "allow": True},),
    # the worker's guard disables a flooding device (worker.guard_url). The plugin has no narrower
    # right than its control topic, so this credential can do what the admin can: it is kept apart
    # from the worker's own so that the admin password stays off the worker and each can be rotated.
    "forestall-guard": (
        {"acltype": "publishClientSend", "topic": CONTROL_TOPIC, "allow": True},
        {"acltype": "subscribeLiteral", "topic": RESPONSE_TOPIC, "allow": True},
        {"acltype": "publishClientReceive", "topic": RESPONSE_TOPIC, "allow": True},
    ),
}
ROLE_ACLS: Mapping[str, Sequence[Mapping[str, Any]]] = {**SERVICE_ROLES, SIMULATOR_ROLE: SIMULATOR_ACLS}


class DynSecError(RuntimeError):
    """The broker refused a command, or did not answer."""


@dataclass(frozen=True, slots=True)
class DeviceCredential:
    tenant: str
    asset: str
    username: str
    password: str
    client_id: str


def device_username(tenant: str, asset: str) -> str:
    """``<tenant>.<asset>``: a dot is in neither identifier, so the name is unambiguous."""
    for name, value in (("tenant", tenant), ("asset", asset)):
        if not ID_RE.fullmatch(value):
            raise ValueError(f"{name}: must match [A-Za-z0-9_-]{{1,64}}, got {value[:80]!r}")
    return f"{tenant}.{asset}"


def new_credential(tenant: str, asset: str, password: str | None = None) -> DeviceCredential:
    return DeviceCredential(
        tenant,
        asset,
        device_username(tenant, asset),
        password or secrets.token_urlsafe(24),
        edge_client_id(tenant, asset),
    )


def device_acls(tenant: str, asset: str) -> list[dict[str, Any]]:
    acls: list[dict[str, Any]] = [
        {"acltype": "publishClientSend", "topic": topic(tenant, asset, kind), "allow": True}
        for kind in DEVICE_SENDS
    ]
    acls.append({"acltype": "subscribeLiteral", "topic": topic(tenant, asset, "cmd"), "allow": True})
    return acls


def device_commands(credential: DeviceCredential) -> list[dict[str, Any]]:
    """Create the device's role and its client (both named by its username)."""
    name = credential.username
    return [
        {
            "command": "createRole",
            "rolename": name,
            "textdescription": "a Forestall device",
            "acls": device_acls(credential.tenant, credential.asset),
        },
        {
            "command": "createClient",
            "username": name,
            "password": credential.password,
            "clientid": credential.client_id,
            "roles": [{"rolename": name}],
        },
    ]


def change_commands(action: str, tenant: str, asset: str) -> list[dict[str, Any]]:
    """``disable`` (and disconnect), ``enable`` or ``revoke`` (delete client and role) a device."""
    name = device_username(tenant, asset)
    if action == "revoke":
        return [{"command": "deleteClient", "username": name}, {"command": "deleteRole", "rolename": name}]
    if action not in ("disable", "enable"):
        raise ValueError(f"unknown device action {action!r}")
    return [{"command": f"{action}Client", "username": name}]


def password_commands(passwords: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"command": "setClientPassword", "username": u, "password": p} for u, p in passwords.items()]


def service_commands(passwords: Mapping[str, str]) -> list[dict[str, Any]]:
    """Create the service roles and a client per service (username = role name); send with
    ``ok_if=ALREADY_EXISTS`` and then ``password_commands`` to make it repeatable."""
    out: list[dict[str, Any]] = []
    for role, password in passwords.items():
        out.append({"command": "createRole", "rolename": role, "acls": [dict(a) for a in ROLE_ACLS[role]]})
        out.append(
            {"command": "createClient", "username": role, "password": password, "roles": [{"rolename": role}]}
        )
    return out


def edge_toml(credential: DeviceCredential, broker_url: str, ca_file: str | None = None) -> str:
    """A ready ``edge.toml`` for the device: its identity, its broker credential, one sensor to edit."""
    lines = [
        "[mqtt]",
        f"url = {json.dumps(broker_url)}",
        f"client_id = {json.dumps(credential.client_id)}",
        f"username = {json.dumps(credential.username)}",
        f"password = {json.dumps(credential.password)}",
    ]
    if ca_file:
        lines.append(f"ca_file = {json.dumps(ca_file)}")
    lines += [
        "",
        "[agent]",
        f"tenant = {json.dumps(credential.tenant)}",
        f"asset = {json.dumps(credential.asset)}",
        "",
        "# one [[sensors]] table per sensor (edge_agent/README.md lists the drivers); this simulated",
        "# pump only checks the connection: replace it with the device's real sensors",
        "[[sensors]]",
        'driver = "simulated"',
        'equipment = "pump"',
        "",
    ]
    return "\n".join(lines)


class DynSec:
    """Sends dynamic-security commands as the broker's admin client and waits for the answers."""

    def __init__(self, url: str, *, ca_file: str | None = None, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._answers: dict[str, Any] | None = None
        self._got = threading.Event()
        self._subscribed = threading.Event()
        self._client = make_client(url, f"forestall-dynsec-{secrets.token_hex(4)}", ca_file=ca_file)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._endpoint = parse_mqtt_url(url)

    def __enter__(self) -> DynSec:
        endpoint = self._endpoint
        try:
            self._client.connect(endpoint.host, endpoint.port)
        except OSError as exc:
            raise DynSecError(f"cannot reach the broker at {endpoint.host}:{endpoint.port}: {exc}") from exc
        self._client.loop_start()
        if not self._subscribed.wait(self.timeout_s):
            self.close()
            raise DynSecError("the broker refused the admin connection or its control topic (credentials?)")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: Any, _p: object = None
    ) -> None:
        if not reason.is_failure:
            client.subscribe(RESPONSE_TOPIC, qos=1)

    def _on_message(self, _client: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        try:
            self._answers = json.loads(message.payload)
        except ValueError:
            self._answers = {"responses": [{"error": "unreadable response"}]}
        self._got.set()

    def run(
        self, commands: Sequence[Mapping[str, Any]], *, ok_if: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Send the commands in one message; raise on the first one refused (unless its error is in
        ``ok_if``, e.g. "Role already exists" to make a bootstrap repeatable)."""
        self._got.clear()
        self._answers = None
        self._client.publish(CONTROL_TOPIC, json.dumps({"commands": list(commands)}), qos=1)
        if not self._got.wait(self.timeout_s):
            raise DynSecError(
                f"no answer on {RESPONSE_TOPIC} within {self.timeout_s} s (is dynamic security on?)"
            )
        answers: dict[str, Any] = self._answers or {}
        responses: list[dict[str, Any]] = list(answers.get("responses", []))
        for response in responses:
            error = response.get("error")
            if error and error not in ok_if:
                raise DynSecError(f"{response.get('command')}: {error}")
        return responses
