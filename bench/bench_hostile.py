"""Worker memory under a flood of large payloads: distinct, valid telemetry batches of ~200 KiB
(close to the contract's 256 KiB limit) published as fast as a real Mosquitto takes them, to a
``forestall worker --no-predictor`` (the ``bench_ingest`` stack). Prints the worker's peak resident
memory, its resident memory once everything is stored and again after a pause, and the rate.

    python bench/bench_hostile.py --messages 5000 --kib 200
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from bench_ingest import counter, ingest_stack, metrics, peak_rss_mb
from paho.mqtt.enums import CallbackAPIVersion


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def payload(n: int, kib: int, start: float) -> tuple[str, bytes, int]:
    """Message ``n``: an asset of 50, a fresh seq, samples with values no other message has."""
    asset = f"h{n % 50}"
    samples: list[dict[str, object]] = []
    size = 120
    while size < kib * 1024 and len(samples) < 1000:
        i = len(samples)
        values = {f"sensor_{k:02d}": n + i / 1000 + k / 1e6 for k in range(10)}
        samples.append({"ts": start + n * 1000 + i, "values": values})
        size += len(orjson.dumps(samples[-1])) + 1
    doc = {"schema": "forestall.telemetry/1", "asset": asset, "seq": n + 1, "samples": samples}
    return f"forestall/v1/flood/{asset}/telemetry", orjson.dumps(doc), len(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--kib", type=int, default=200)
    parser.add_argument("--pause", type=float, default=30.0, help="seconds to wait before the last reading")
    args = parser.parse_args()
    print(f"command: python bench/bench_hostile.py --messages {args.messages} --kib {args.kib}")
    with ingest_stack("forestall-bench-hostile-") as (worker, port, mport):
        before = rss_mb(worker.pid)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-flood")
        client.max_inflight_messages_set(100)
        client.connect("127.0.0.1", port)
        client.loop_start()
        start, expected, sizes = time.time() - 30 * 86_400, 0, 0
        began = time.monotonic()
        for n in range(args.messages):
            topic, body, count = payload(n, args.kib, start)
            expected, sizes = expected + count, sizes + len(body)
            info = client.publish(topic, body, qos=1)
            if n % 100 == 99:
                info.wait_for_publish(120)
        info.wait_for_publish(120)
        published = time.monotonic() - began
        while counter(metrics(mport), "forestall_ingest_samples_total") < expected:
            time.sleep(0.5)
        stored = time.monotonic() - began
        done = rss_mb(worker.pid)
        time.sleep(args.pause)
        client.loop_stop()
        client.disconnect()
        print(
            f"{args.messages:,} distinct payloads of {sizes / args.messages / 1024:.0f} KiB "
            f"({sizes / 2**20:,.0f} MiB, {expected:,} samples): published in {published:.0f} s, "
            f"all stored after {stored:.0f} s ({args.messages / stored:,.0f} msg/s); worker RSS "
            f"{before:.0f} MB at start, peak {peak_rss_mb(worker.pid):.0f} MB, {done:.0f} MB when stored, "
            f"{rss_mb(worker.pid):.0f} MB {args.pause:g} s later"
        )


if __name__ == "__main__":
    main()
