"""The forestall command line: subcommands, key creation, config errors, a light edge path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from forestall.state.db import make_engine, make_sessionmaker
from forestall.state.keys import lookup_key
from forestall.state.models import ApiKey
from programs.cli import main


def test_every_contract_command_is_offered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for name in ("demo", "edge", "worker", "api", "simulate", "db", "keys"):
        assert name in text


def test_keys_create_prints_a_working_key_on_its_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("FORESTALL_DATABASE_URL", url)
    assert main(["db", "upgrade"]) == 0
    assert main(["keys", "create", "--tenant", "acme", "--role", "dispatcher"]) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]
    with make_sessionmaker(make_engine(url))() as session:
        record = lookup_key(session, key)
        assert record is not None and (record.tenant, record.role) == ("acme", "dispatcher")
        assert key not in {row.key_hash for row in session.scalars(select(ApiKey))}  # stored hashed
        assert lookup_key(session, key[:-1] + ("x" if key[-1] != "x" else "y")) is None


def test_a_bad_setting_is_a_one_line_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[store]\nkind = "cassandra"\n')
    assert main(["db", "upgrade", "--config", str(config)]) == 2
    assert "store.kind: Input should be 'embedded' or 'influxdb'" in capsys.readouterr().err
    assert (
        main(
            [
                "keys",
                "create",
                "--tenant",
                "bad tenant",
                "--role",
                "admin",
                "--config",
                str(tmp_path / "missing.toml"),
            ]
        )
        == 2
    )
    assert "config file not found" in capsys.readouterr().err


def test_the_cli_loads_no_server_stack_until_a_server_command_runs() -> None:
    heavy = "('pydantic', 'sqlalchemy', 'fastapi', 'river', 'httpx', 'influxdb_client')"
    probe = (
        "import sys; from programs.cli import build_parser; build_parser(); "
        f"print(','.join(m for m in {heavy} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
