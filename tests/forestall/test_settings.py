"""Settings from files (``FORESTALL_…_FILE``, as Docker secrets are mounted) and passwords kept
apart from URLs: whatever a password's characters, the URL built from it gives it back."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from forestall.mqtturl import parse_mqtt_url, redacted
from forestall.secretfiles import secret_from_env
from forestall.settings import Settings, load_settings

AWKWARD = "p/@#:w%?&=+ x"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.upper().startswith("FORESTALL_")]:
        monkeypatch.delenv(name)


def _secret(tmp_path: Path, name: str, value: str = AWKWARD) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    return path


def test_passwords_from_files_give_working_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORESTALL_DATABASE_URL", "postgresql://forestall@postgres:5432/forestall")
    monkeypatch.setenv("FORESTALL_DATABASE_PASSWORD_FILE", str(_secret(tmp_path, "pg")))
    monkeypatch.setenv("FORESTALL_MQTT__URL", "mqtt://forestall-worker@mosquitto:1883")
    monkeypatch.setenv("FORESTALL_MQTT__PASSWORD_FILE", str(_secret(tmp_path, "mq")))
    monkeypatch.setenv("FORESTALL_WORKER__GUARD_URL", "mqtt://forestall-guard@mosquitto:1883")
    monkeypatch.setenv("FORESTALL_WORKER__GUARD_PASSWORD_FILE", str(_secret(tmp_path, "guard", "g/#")))
    monkeypatch.setenv("FORESTALL_INFLUXDB__TOKEN_FILE", str(_secret(tmp_path, "token", "tok==")))
    settings = load_settings()
    db = make_url(settings.database_url)
    assert (db.username, db.password, db.host, db.port, db.database) == (
        "forestall",
        AWKWARD,
        "postgres",
        5432,
        "forestall",
    )
    mqtt = parse_mqtt_url(settings.mqtt.url)
    assert (mqtt.username, mqtt.password, mqtt.host, mqtt.port) == (
        "forestall-worker",
        AWKWARD,
        "mosquitto",
        1883,
    )
    assert settings.worker.guard_url is not None
    guard = parse_mqtt_url(settings.worker.guard_url)
    assert (guard.username, guard.password, guard.host) == ("forestall-guard", "g/#", "mosquitto")
    assert settings.influxdb.token == "tok=="  # one trailing newline dropped, nothing else
    assert AWKWARD not in redacted(settings.mqtt.url)


def test_a_password_given_directly_and_its_own_user_name() -> None:
    settings = Settings(mqtt={"url": "mqtts://broker:8883", "username": "a@b", "password": "x:y"})  # type: ignore[arg-type]
    endpoint = parse_mqtt_url(settings.mqtt.url)
    assert (endpoint.username, endpoint.password, endpoint.tls) == ("a@b", "x:y", True)
    with pytest.raises(ValidationError, match="needs a user name"):
        Settings(mqtt={"url": "mqtt://broker:1883", "password": "pw"})  # type: ignore[arg-type]


def test_a_setting_named_file_keeps_its_meaning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORESTALL_MQTT__CA_FILE", str(tmp_path / "ca.crt"))  # a path, not read
    assert load_settings().mqtt.ca_file == tmp_path / "ca.crt"


def test_a_setting_given_twice_or_an_unreadable_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORESTALL_INFLUXDB__TOKEN_FILE", str(_secret(tmp_path, "s")))
    monkeypatch.setenv("FORESTALL_INFLUXDB__TOKEN", "also")
    with pytest.raises(ValueError, match="set one of them"):
        load_settings()
    monkeypatch.delenv("FORESTALL_INFLUXDB__TOKEN")
    monkeypatch.setenv("FORESTALL_INFLUXDB__TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="cannot read"):
        load_settings()
    monkeypatch.setenv("FORESTALL_INFLUXDB__TOKEN_FILE", str(tmp_path))  # a folder (a missing
    with pytest.raises(ValueError, match="cannot read"):  # Docker secret is mounted as one)
        load_settings()


def test_secret_from_env_reads_the_file_it_names(tmp_path: Path) -> None:
    path = str(_secret(tmp_path, "w"))
    assert secret_from_env("WORKER_MQTT_PASSWORD", {"WORKER_MQTT_PASSWORD_FILE": path}) == AWKWARD
    assert secret_from_env("WORKER_MQTT_PASSWORD", {}) is None
    with pytest.raises(ValueError, match="set one of them"):
        secret_from_env("X", {"X": "a", "X_FILE": path})


def test_a_database_password_of_any_characters_connects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URL built from a password file, through SQLAlchemy and psycopg to the local PostgreSQL,
    as the user it names (this server trusts local connections, so the user and the database are
    what is checked here; the password's round trip is the test above)."""
    import secrets

    import psycopg
    from sqlalchemy import text

    from forestall.state.db import make_engine
    from tests.support import PG_ADMIN, postgres_database

    role = f"forestall_pw_{secrets.token_hex(4)}"
    with postgres_database() as url, psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{AWKWARD.replace(chr(39), chr(39) * 2)}'")
        try:
            database = make_url(url).database
            monkeypatch.setenv("FORESTALL_DATABASE_URL", f"postgresql://{role}@127.0.0.1:5432/{database}")
            monkeypatch.setenv("FORESTALL_DATABASE_PASSWORD_FILE", str(_secret(tmp_path, "pg")))
            engine = make_engine(load_settings().database_url)
            with engine.connect() as connection:
                row = connection.execute(text("SELECT current_user, current_database()")).one()
            engine.dispose()
            assert tuple(row) == (role, database)
        finally:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')
