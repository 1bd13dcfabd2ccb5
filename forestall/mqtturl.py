"""Parse ``mqtt://`` / ``mqtts://`` URLs into connection parameters, and put credentials into a
URL (any scheme) percent-encoded (standard library only)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """
    >>> parse_mqtt_url("mqtts://user:pw@broker.example:8883")
    MqttEndpoint(host='broker.example', port=8883, tls=True, username='user', password='pw')
    >>> parse_mqtt_url("mqtt://127.0.0.1").port
    1883
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    if not parts.hostname:
        raise ValueError(f"MQTT URL has no host: {url!r}")
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError as exc:
        raise ValueError(f"MQTT URL has an invalid port: {url!r}") from exc
    return MqttEndpoint(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def with_credentials(url: str, password: str, username: str | None = None) -> str:
    """``url`` with ``password`` (and ``username``, else the URL's own) in it, percent-encoded, so
    that a password of any characters survives parsing (``/``, ``@``, ``#``, ``:`` included).

    >>> with_credentials("postgresql://forestall@db:5432/forestall", "a/b@c#d:e")
    'postgresql://forestall:a%2Fb%40c%23d%3Ae@db:5432/forestall'
    >>> parse_mqtt_url(with_credentials("mqtt://broker:1883", "p/@#:", "forestall-worker")).password
    'p/@#:'
    """
    parts = urlsplit(url)
    if username is None:
        if not parts.username:
            raise ValueError(f"a password needs a user name, in the URL or given: {redacted(url)}")
        username = unquote(parts.username)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def redacted(url: str) -> str:
    """``url`` fit for a log: its password replaced by ``***``.

    >>> redacted("mqtt://forestall-api:s3cret@mosquitto:1883")
    'mqtt://forestall-api:***@mosquitto:1883'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, _ = parts.netloc.rpartition("@")[0].partition(":")
    return urlunsplit(parts._replace(netloc=f"{user}:***@{parts.netloc.rpartition('@')[2]}"))
