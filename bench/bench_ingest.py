"""Ingest throughput, latency and memory: one worker (predictor off), a separate publisher process,
a real Mosquitto, the embedded store, 8 sensors per sample, 10,000 assets.

For each batch size it runs a flat-out phase (sustained samples/s and messages/s, measured from
the worker's own counters) and a phase at half that rate (publish-to-stored latency p50/p99 from
the worker's lag histogram; the publisher stamps samples with the wall time). Alongside, a
`mosquitto_sub` on the same stream gives the raw receive rate (the ceiling), and the worker's
peak resident memory is read from /proc.

    python bench/bench_ingest.py --assets 10000 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from forestall.broker import free_port

SENSORS = [f"s{i}" for i in range(8)]
PUBLISHER = r"""
import json, random, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
port, assets, batch, seconds, rate, seq0 = (int(float(a)) for a in sys.argv[1:7])
c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{seq0}")
c.max_inflight_messages_set(1000)
c.connect("127.0.0.1", port); c.loop_start()
sensors = [f"s{i}" for i in range(8)]
sent = 0; seq = seq0; start = time.time(); end = start + seconds
while time.time() < end:
    for a in range(assets):
        now = time.time()
        if now >= end: break
        samples = [{"ts": now - (batch - 1 - k) * 1e-3,
                    "values": {s: round(random.random() * 100, 3) for s in sensors}} for k in range(batch)]
        body = json.dumps({"schema": "forestall.telemetry/1", "asset": f"a{a:05d}", "seq": seq,
                           "samples": samples})
        last = c.publish(f"forestall/v1/bench/a{a:05d}/telemetry", body, qos=1)
        while last.rc == mqtt.MQTT_ERR_QUEUE_SIZE:  # the client's queue is full: let it drain
            time.sleep(0.001)
            last = c.publish(f"forestall/v1/bench/a{a:05d}/telemetry", body, qos=1)
        sent += 1
        if rate and sent % 100 == 0:
            ahead = sent * batch / rate - (time.time() - start)
            if ahead > 0: time.sleep(ahead)
    seq += 1
last.wait_for_publish(120)  # everything queued in the client has reached the broker
c.loop_stop(); c.disconnect()
print(json.dumps({"messages": sent, "seconds": time.time() - start, "last_seq": seq}))
"""


def metrics(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()


def counter(text: str, name: str) -> float:
    match = re.search(rf"^{name}(?:{{[^}}]*}})?\s+([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def histogram(text: str, name: str) -> list[tuple[float, float]]:
    buckets = []
    for le, value in re.findall(rf'^{name}_bucket{{le="([^"]+)"}}\s+([0-9.e+]+)$', text, re.M):
        buckets.append((float("inf") if le == "+Inf" else float(le), float(value)))
    return sorted(buckets)


def quantile(before: list[tuple[float, float]], after: list[tuple[float, float]], q: float) -> float:
    """Quantile of the observations between two scrapes, interpolated within its bucket."""
    counts = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    total = counts[-1][1]
    if total <= 0:
        return float("nan")
    target, low = q * total, 0.0
    previous_count = 0.0
    for le, cumulative in counts:
        if cumulative >= target:
            if le == float("inf"):
                return low
            share = (target - previous_count) / max(cumulative - previous_count, 1e-9)
            return low + share * (le - low)
        low, previous_count = le, cumulative
    return low


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def phase(
    args: argparse.Namespace, mport: int, broker_port: int, batch: int, rate: int, seq0: int
) -> dict[str, float]:
    before = metrics(mport)
    sub_out_path = Path(tempfile.mkstemp(prefix="bench-sub-")[1])
    sub = subprocess.Popen(
        [
            "stdbuf",
            "-oL",
            "mosquitto_sub",
            "-p",
            str(broker_port),
            "-q",
            "1",
            "-t",
            "forestall/v1/bench/+/telemetry",
            "-F",
            "%m",
        ],
        stdout=sub_out_path.open("wb"),
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PUBLISHER,
            str(broker_port),
            str(args.assets),
            str(batch),
            str(args.seconds),
            str(rate),
            str(seq0),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the publisher failed: {result.stderr.strip()[-500:]}")
    published = json.loads(result.stdout)
    sub_elapsed = time.monotonic() - started
    sub.terminate()
    sub.wait(10)
    sub_lines = sub_out_path.read_bytes().count(b"\n")
    sub_out_path.unlink()
    target = counter(before, "forestall_ingest_samples_total") + published["messages"] * batch
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and counter(metrics(mport), "forestall_ingest_samples_total") < target:
        time.sleep(0.2)
    # Samples are counted before the commit and lag is observed after it: let the last chunk land,
    # so its (backlogged) lag is not charged to the next phase.
    settled = -1.0
    while time.monotonic() < deadline:
        observed = counter(metrics(mport), "forestall_ingest_lag_seconds_count")
        if observed == settled:
            break
        settled = observed
        time.sleep(1.0)
    elapsed = time.monotonic() - started
    after = metrics(mport)
    stored = counter(after, "forestall_ingest_samples_total") - counter(
        before, "forestall_ingest_samples_total"
    )
    lag_before, lag_after = (
        histogram(before, "forestall_ingest_lag_seconds"),
        histogram(after, "forestall_ingest_lag_seconds"),
    )
    return {
        "published_messages": published["messages"],
        "stored_samples": stored,
        "samples_per_s": stored / elapsed,
        "messages_per_s": stored / batch / elapsed,
        "p50_ms": quantile(lag_before, lag_after, 0.5) * 1000,
        "p99_ms": quantile(lag_before, lag_after, 0.99) * 1000,
        "mosquitto_sub_messages_per_s": sub_lines / sub_elapsed,
        "last_seq": published["last_seq"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="publishing time per phase")
    parser.add_argument("--batches", default="50,1", help="samples per message, comma-separated")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forestall-bench-ingest-"))
    port, mport = free_port(), free_port()
    user = "user root\n" if os.geteuid() == 0 else ""
    (work / "m.conf").write_text(
        f"{user}listener {port} 127.0.0.1\nallow_anonymous true\n"
        "max_queued_messages 10000000\nmax_inflight_messages 1000\n"
    )
    broker = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(work / "m.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = dict(
        os.environ,
        FORESTALL_MQTT__URL=f"mqtt://127.0.0.1:{port}",
        FORESTALL_DATABASE_URL=f"sqlite:///{work / 'state.db'}",
        FORESTALL_STORE__PATH=str(work / "tsdb.sqlite"),
        FORESTALL_WORKER__METRICS_PORT=str(mport),
        FORESTALL_WORKER__CHECKPOINT_DIR=str(work / "ck"),
    )
    forestall = Path(sys.executable).with_name("forestall")
    worker_log = (work / "worker.err").open("w")
    worker = subprocess.Popen(
        [str(forestall), "worker", "--no-predictor"], env=env, stdout=subprocess.DEVNULL, stderr=worker_log
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                metrics(mport)
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(1.0)
        print(
            f"command: python bench/bench_ingest.py --assets {args.assets} --seconds {args.seconds:g} "
            f"--batches {args.batches}"
        )
        seq = 1
        for batch in (int(b) for b in args.batches.split(",")):
            flat = phase(args, mport, port, batch, 0, seq)
            seq = int(flat["last_seq"]) + 1
            half = phase(args, mport, port, batch, int(flat["samples_per_s"] / 2), seq)
            seq = int(half["last_seq"]) + 1
            ceiling = flat["mosquitto_sub_messages_per_s"]
            print(
                f"{batch:>3}-sample batches: sustained {flat['samples_per_s']:,.0f} samples/s = "
                f"{flat['messages_per_s']:,.0f} msg/s (mosquitto_sub, same stream: {ceiling:,.0f} msg/s); "
                f"at half rate ({half['samples_per_s']:,.0f} samples/s) latency p50 {half['p50_ms']:.0f} ms, "
                f"p99 {half['p99_ms']:.0f} ms"
            )
        print(f"worker peak memory: {peak_rss_mb(worker.pid):.0f} MB with {args.assets:,} assets")
    finally:
        worker.terminate()
        worker.wait(30)
        worker_log.close()
        broker.terminate()


if __name__ == "__main__":
    main()
