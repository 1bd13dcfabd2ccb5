"""``forestall keys list|revoke`` against a real API: a key the CLI revokes is refused at once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.server import ApiServer
from forestall.broker import free_port
from forestall.settings import ApiSettings, MqttSettings, Settings, StoreSettings
from programs.cli import main


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The state DB the CLI (through FORESTALL_DATABASE_URL) and the API share."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("FORESTALL_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0
    return url


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[ApiServer]:
    settings = Settings(
        database_url=db_url,
        api=ApiSettings(host="127.0.0.1", port=free_port()),
        store=StoreSettings(path=tmp_path / "tsdb.sqlite"),
        mqtt=MqttSettings(url="mqtt://127.0.0.1:1"),  # no broker: these requests publish nothing
    )
    server = ApiServer(settings, deliver_webhooks=False)
    server.start()
    yield server
    server.stop()


def create_key(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["keys", "create", *argv]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def list_keys(capsys: pytest.CaptureFixture[str], *argv: str) -> list[list[str]]:
    assert main(["keys", "list", *argv]) == 0
    return [line.split("\t") for line in capsys.readouterr().out.splitlines()]


def test_a_key_revoked_through_the_cli_is_refused_by_the_api(
    api: ApiServer, capsys: pytest.CaptureFixture[str]
) -> None:
    key = create_key(capsys, "--tenant", "acme", "--role", "dispatcher")
    key_id = key.split("_")[1]
    with httpx.Client(base_url=api.url, headers={"authorization": f"Bearer {key}"}, timeout=20.0) as client:
        assert client.get("/v1/assets").status_code == 200
        assert main(["keys", "revoke", key_id]) == 0
        assert key_id in capsys.readouterr().out
        refused = client.get("/v1/assets")
        assert refused.status_code == 401, refused.text
    assert [row[4] for row in list_keys(capsys) if row[0] == key_id] == ["revoked"]


def test_keys_list_shows_every_key_but_never_its_secret(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = create_key(capsys, "--tenant", "acme", "--role", "admin", "--name", "ops laptop")
    other = create_key(capsys, "--tenant", "globex", "--role", "grafana")
    assert main(["keys", "list"]) == 0
    out = capsys.readouterr().out
    for key in (admin, other):
        assert key not in out and key.split("_", 2)[2] not in out  # neither the key nor its secret
    rows = [line.split("\t") for line in out.splitlines()]
    assert len(rows) == 2 and all(len(row) == 6 for row in rows)
    by_id = {row[0]: row[1:] for row in rows}
    acme = by_id[admin.split("_")[1]]
    assert (acme[0], acme[1], acme[3], acme[4]) == ("acme", "admin", "active", "ops laptop")
    assert acme[2].endswith("Z") and acme[2][:2] == "20"  # created, RFC 3339 in UTC
    assert [row[0] for row in list_keys(capsys, "--tenant", "globex")] == [other.split("_")[1]]
    assert main(["keys", "list", "--tenant", "nobody"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no API keys of tenant nobody" in captured.err


def test_revoking_an_unknown_key_is_a_clear_error(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "revoke", "0123456789abcdef"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no API key with id '0123456789abcdef'" in captured.err
    secret = "fs_0123456789abcdef_not-a-real-secret"  # a whole key is taken by its id, never echoed
    assert main(["keys", "revoke", secret]) == 2
    err = capsys.readouterr().err
    assert "'0123456789abcdef'" in err and "not-a-real-secret" not in err
