"""A worker killed with SIGKILL keeps what it learnt up to its last checkpoint and never
duplicates a recommendation (real Mosquitto, `forestall worker` as a process)."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from forestall.state.db import make_engine, make_sessionmaker, upgrade
from forestall.state.models import IngestSequence, Recommendation
from predictor.engine import Predictor
from tests.conftest import Mosquitto
from tests.support import add_customer_with_asset, wait_for

HOUR = 3600.0
START = 1_795_000_000.0
TOPIC = "forestall/v1/acme/pump-1/telemetry"


def readings(hours: float, first: int) -> list[dict[str, object]]:
    """10-minute samples: healthy for a day and a half, then wear growing towards failure."""
    rng = random.Random(first)
    out = []
    for i in range(first, first + int(hours * 6)):
        t = i * 600.0
        wear = max(0.0, (t - 36 * HOUR) / (30 * HOUR)) ** 2
        day = math.sin(2 * math.pi * t / (24 * HOUR))
        out.append(
            {
                "ts": START + t,
                "values": {
                    "temp_c": 60 + 3 * day + rng.gauss(0, 0.5) + 25 * wear,
                    "vibration_mm_s": 2.5 + 0.2 * day + rng.gauss(0, 0.1) + 8 * wear,
                },
            }
        )
    return out


def publish(port: int, samples: list[dict[str, object]], first_seq: int) -> int:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-device-{first_seq}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    seq = first_seq
    for i in range(0, len(samples), 50):
        body = {
            "schema": "forestall.telemetry/1",
            "asset": "pump-1",
            "seq": seq,
            "samples": samples[i : i + 50],
        }
        client.publish(TOPIC, json.dumps(body), qos=1).wait_for_publish(10)
        seq += 1
    client.loop_stop()
    client.disconnect()
    return seq


def test_sigkill_loses_no_learning_before_the_last_checkpoint_and_no_recommendation_is_duplicated(
    tmp_path: Path,
) -> None:
    broker = Mosquitto(tmp_path / "mosquitto")
    url = f"sqlite:///{tmp_path / 'state.db'}"
    upgrade(url)
    sessions = make_sessionmaker(make_engine(url))
    with sessions.begin() as session:
        add_customer_with_asset(session, "pump-1", criticality=4, visit_sensitivity=0.3)
    env = dict(
        os.environ,
        FORESTALL_DATABASE_URL=url,
        FORESTALL_MQTT__URL=broker.url,
        FORESTALL_STORE__PATH=str(tmp_path / "tsdb.sqlite"),
        FORESTALL_WORKER__CHECKPOINT_DIR=str(tmp_path / "checkpoints"),
        FORESTALL_WORKER__CHECKPOINT_INTERVAL_S="0.5",
    )
    command = [sys.executable, "-m", "programs.cli", "worker"]

    def recommendations() -> int:
        with sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Recommendation)) or 0)

    def high_water() -> int:
        with sessions() as session:
            row = session.get(IngestSequence, ("acme", "pump-1"))
            return row.high_water if row else 0

    first = readings(60, 0)
    # Shorter than the expiry grace (6 h): a new recommendation after this can only be a duplicate,
    # not the successor of one whose window lapsed while the pump kept degrading.
    second = readings(3, len(first))
    worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Until the worker has subscribed, messages for it are dropped: repeat the first
        # batch (dedupe drops the repeats) until it is taken, however slow the start.
        assert wait_for(lambda: publish(broker.port, first[:50], 1) > 0 and high_water() >= 1, interval=1.0)
        seq = publish(broker.port, first, 1)
        assert wait_for(lambda: high_water() == seq - 1), "the worker did not take the first part"
        assert wait_for(lambda: recommendations() == 1), "the degrading pump got no recommendation"
        time.sleep(2.0)  # more than a checkpoint interval: everything so far is checkpointed
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(2.0)
        last = publish(broker.port, second, seq)
        assert wait_for(lambda: high_water() == last - 1), "the restarted worker did not take the second part"
        time.sleep(1.0)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        broker.stop()
    assert recommendations() == 1  # the open one is escalated or kept, never duplicated
    restored = Predictor.load(tmp_path / "checkpoints" / "worker-0-of-1.pkl")
    assert restored is not None
    model = restored.assets[("acme", "pump-1")]
    assert model.steps == len(first) + len(second)  # nothing learnt twice, nothing lost
