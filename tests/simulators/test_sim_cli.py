"""``forestall simulate fleet|fsm``: argument parsing and short real runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from forestall.broker import EmbeddedBroker
from programs.commands import simulate
from tests.simulators.sim_fakeapi import FakeApi


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="forestall")
    simulate.register(root.add_subparsers(dest="command", required=True))
    return root


@pytest.mark.parametrize(
    "argv", [["simulate", "--help"], ["simulate", "fleet", "--help"], ["simulate", "fsm", "--help"]]
)
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parser().parse_args(argv)
    assert exit_info.value.code == 0
    assert "--api-url" in capsys.readouterr().out or argv == ["simulate", "--help"]


@pytest.mark.integration
def test_fleet_runs_and_prints_metrics(
    amqtt_broker: EmbeddedBroker, fake_api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parser().parse_args(
        [
            "simulate",
            "fleet",
            "--api-url",
            fake_api.url,
            "--api-key",
            "k",
            "--assets",
            "3",
            "--customers",
            "1",
            "--seconds",
            "1.5",
            "--speed",
            "36000",
            "--mqtt-url",
            amqtt_broker.url,
            "--data-dir",
            str(tmp_path),
            "--start",
            "2026-11-23T00:00:00Z",
        ]
    )
    assert args.handler(args) == 0
    metrics = json.loads(capsys.readouterr().out)  # stdout is the JSON alone; progress on stderr
    assert metrics["samples_published"] > 0 and "failures_prevented" in metrics
    assert len(fake_api.find("PUT", "/v1/assets/")) == 3


@pytest.mark.integration
def test_fsm_subscribes_itself(
    amqtt_broker: EmbeddedBroker, fake_api: FakeApi, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parser().parse_args(
        [
            "simulate",
            "fsm",
            "--api-url",
            fake_api.url,
            "--api-key",
            "k",
            "--subscribe",
            "--seconds",
            "0.3",
            "--mqtt-url",
            amqtt_broker.url,
        ]
    )
    assert args.handler(args) == 0
    (call,) = fake_api.find("POST", "/v1/webhooks")
    assert call.body["url"].startswith("http://127.0.0.1:") and call.body["secret"].startswith("whsec_")
    captured = capsys.readouterr()
    assert call.body["url"] in captured.err and json.loads(captured.out)["webhooks_rejected"] == 0


def test_fsm_needs_a_secret_without_subscribe() -> None:
    args = parser().parse_args(["simulate", "fsm", "--api-url", "http://x", "--api-key", "k"])
    with pytest.raises(ValueError, match="webhook-secret"):
        args.handler(args)
