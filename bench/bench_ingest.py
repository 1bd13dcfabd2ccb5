"""Ingest throughput, latency and memory: one worker (predictor off), a separate publisher process,
a real Mosquitto, the embedded store, 8 sensors per sample, 10,000 assets.

For each batch size it runs a flat-out phase (sustained samples/s and messages/s, measured from
the worker's own counters) and a phase at half that rate (publish-to-stored latency p50/p99 from
the worker's lag histogram; the publisher stamps samples with the wall time). In between, a
`mosquitto_sub` on the same stream gives the raw receive rate (the ceiling), and the worker's
peak resident memory is read from /proc. The ceiling runs between the worker's phases, not
alongside them (see ``ceiling``). The CPU time per message of the worker and the publisher
and the load average are printed too: the machine is shared, so they tell a busy machine from a
slow worker.

    python bench/bench_ingest.py --assets 10000 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from forestall.broker import free_port

SENSORS = [f"s{i}" for i in range(8)]
# A bare MQTT 3.1.1 QoS 1 publisher on a socket, at most 1,000 messages in flight. paho-mqtt spent
# 110-260 us of CPU per message here (per-PUBACK objects, a scan of the in-flight messages on each
# PUBACK), taken from the same two cores as the worker; edge agents run on their own machines.
PUBLISHER = r"""
import json, random, socket, struct, sys, threading, time
import orjson
port, assets, batch, seconds, rate, seq0 = (int(float(a)) for a in sys.argv[1:7])
root, tenant = sys.argv[7], sys.argv[8]
username, password = (sys.argv[9], sys.argv[10]) if len(sys.argv) > 10 else ("", "")

def packet(kind, body):
    head, n = bytearray([kind]), len(body)
    while True:
        n, digit = divmod(n, 128)
        head.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(head) + body

def utf8(text):
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw

sock = socket.create_connection(("127.0.0.1", port))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
flags, auth = 0x02, b""
if username:  # the user name and password flags, and both after the client id
    flags, auth = 0xC2, utf8(username) + utf8(password)
sock.sendall(packet(0x10, utf8("MQTT") + bytes([4, flags, 0, 0]) + utf8(f"bench-pub-{seq0}") + auth))
if sock.recv(4) != b"\x20\x02\x00\x00":
    sys.exit("CONNECT refused")
window = threading.Semaphore(1000)
acked = 0
dropped = False  # the broker closed the connection (a device disabled at the broker)
closing = False

def read_pubacks():  # the broker sends this client nothing but 4-byte PUBACKs
    global acked, dropped
    spare = 0
    try:
        while data := sock.recv(65536):
            count, spare = divmod(spare + len(data), 4)
            acked += count
            window.release(count) if count else None
    except OSError:
        pass
    dropped = not closing
    window.release(1000)

threading.Thread(target=read_pubacks, daemon=True).start()
topics = [utf8(f"{root}/v1/{tenant}/a{a:05d}/telemetry") for a in range(assets)]
sensors = [f"s{i}" for i in range(8)]
pending = []
sent = 0; seq = seq0; start = time.time(); end = start + seconds
while time.time() < end and not dropped:
    for a in range(assets):
        now = time.time()
        if now >= end or dropped: break
        samples = [{"ts": now - (batch - 1 - k) * 1e-3,
                    "values": {s: round(random.random() * 100, 3) for s in sensors}} for k in range(batch)]
        body = orjson.dumps({"schema": "forestall.telemetry/1", "asset": f"a{a:05d}", "seq": seq,
                             "samples": samples})
        window.acquire()
        sent += 1
        pending.append(packet(0x32, topics[a] + struct.pack("!H", sent % 65535 + 1) + body))
        if len(pending) >= 20:
            try:
                sock.sendall(b"".join(pending)); pending.clear()
            except OSError:
                dropped = True; break
        if rate and sent % 100 == 0:
            ahead = sent * batch / rate - (time.time() - start)
            if ahead > 0:
                sock.sendall(b"".join(pending)); pending.clear()
                time.sleep(ahead)
    seq += 1
deadline = time.time() + 120
if not dropped:
    sock.sendall(b"".join(pending))
    while acked < sent and time.time() < deadline:  # every message has reached the broker
        time.sleep(0.01)
    closing = True
    sock.sendall(b"\xe0\x00")
sock.close()
print(json.dumps({"messages": acked if dropped else sent, "seconds": time.time() - start,
                  "last_seq": seq, "dropped": dropped}))
"""


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def metrics(port: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()


def counter(text: str, name: str, labels: str | None = None) -> float:
    """A counter's value: of the series with exactly ``labels`` (e.g. ``reason="x"``), else the first."""
    wanted = re.escape(f"{{{labels}}}") if labels is not None else r"(?:\{[^}]*\})?"
    match = re.search(rf"^{name}{wanted}\s+([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def histogram(text: str, name: str, tenant: str | None = None) -> list[tuple[float, float]]:
    """Cumulative buckets of a histogram, of one ``tenant`` label or summed over all."""
    buckets: dict[float, float] = {}
    for labels, value in re.findall(rf"^{name}_bucket{{([^}}]*)}}\s+([0-9.e+]+)$", text, re.M):
        if tenant is not None and f'tenant="{tenant}"' not in labels:
            continue
        le = re.search(r'le="([^"]+)"', labels)
        bound = float("inf") if le is None or le.group(1) == "+Inf" else float(le.group(1))
        buckets[bound] = buckets.get(bound, 0.0) + float(value)
    return sorted(buckets.items())


def quantile(before: list[tuple[float, float]], after: list[tuple[float, float]], q: float) -> float:
    """Quantile of the observations between two scrapes, interpolated within its bucket."""
    before = before or [(le, 0.0) for le, _ in after]  # no observation of that series before
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


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def publish(
    args: argparse.Namespace,
    broker_port: int,
    batch: int,
    rate: int,
    seq0: int,
    root: str = "forestall",
    tenant: str = "bench",
    auth: tuple[str, str] | None = None,
) -> tuple[dict[str, float], float]:
    """Run the publisher process (``args.assets`` assets of ``tenant``, ``rate`` samples/s, 0 = flat
    out, for ``args.seconds``, as client id ``bench-pub-<seq0>`` with ``auth``'s user name and
    password); what it reports (``messages`` the broker took) and the CPU seconds it spent."""
    children_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    argv = [str(v) for v in (broker_port, args.assets, batch, args.seconds, rate, seq0)]
    result = subprocess.run(
        [sys.executable, "-c", PUBLISHER, *argv, root, tenant, *(auth or ())],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the publisher failed: {result.stderr.strip()[-500:]}")
    spent = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = spent.ru_utime + spent.ru_stime - children_cpu.ru_utime - children_cpu.ru_stime
    return json.loads(result.stdout), cpu


def ceiling(args: argparse.Namespace, broker_port: int, batch: int) -> float:
    """Messages/s that ``mosquitto_sub`` receives of the same stream, flat out.

    Run on its own, between the worker's phases, on a topic prefix no worker subscribes to:
    run alongside the worker it took CPU from it on this two-core machine and made the broker
    deliver everything twice, so neither figure was what it claimed to be.
    """
    sub_out_path = Path(tempfile.mkstemp(prefix="bench-sub-")[1])
    sub = subprocess.Popen(
        [  # fully buffered output (it flushes on SIGTERM): a write per message would cost CPU
            "mosquitto_sub",
            "-p",
            str(broker_port),
            "-q",
            "1",
            "-t",
            "ceiling/v1/bench/+/telemetry",
            "-F",
            "%m",
        ],
        stdout=sub_out_path.open("wb"),
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    started = time.monotonic()
    published, _ = publish(args, broker_port, batch, 0, 1, "ceiling")
    # It writes in blocks: once the file stops growing it has caught up with the publisher.
    size, elapsed = -1, time.monotonic() - started
    while (now := sub_out_path.stat().st_size) != size:
        size, elapsed = now, time.monotonic() - started
        time.sleep(0.3)
    sub.terminate()
    sub.wait(10)
    lines = sub_out_path.read_bytes().count(b"\n")
    sub_out_path.unlink()
    return min(lines, published["messages"]) / elapsed


def phase(
    args: argparse.Namespace, worker_pid: int, mport: int, broker_port: int, batch: int, rate: int, seq0: int
) -> dict[str, float]:
    before = metrics(mport)
    worker_cpu, load = cpu_seconds(worker_pid), os.getloadavg()[0]
    started = time.monotonic()
    published, publisher_cpu = publish(args, broker_port, batch, rate, seq0)
    target = counter(before, "forestall_ingest_samples_total") + published["messages"] * batch
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and counter(metrics(mport), "forestall_ingest_samples_total") < target:
        time.sleep(0.05)
    elapsed = time.monotonic() - started  # publish start to the last sample counted
    # Samples are counted before the commit and lag is observed after it: let the last chunk land,
    # so its (backlogged) lag is not charged to the next phase.
    settled = -1.0
    while time.monotonic() < deadline:
        observed = counter(metrics(mport), "forestall_ingest_lag_seconds_count")
        if observed == settled:
            break
        settled = observed
        time.sleep(1.0)
    after = metrics(mport)
    worker_cpu = cpu_seconds(worker_pid) - worker_cpu
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
        "last_seq": published["last_seq"],
        "worker_cpu_us_per_msg": worker_cpu / max(stored / batch, 1) * 1e6,
        "publisher_cpu_us_per_msg": publisher_cpu / max(published["messages"], 1) * 1e6,
        "load": load,
    }


@contextmanager
def ingest_stack(
    prefix: str,
    access: Callable[[Path], str] = lambda _work: "allow_anonymous true\n",
    setup: Callable[[int], dict[str, str]] | None = None,
    **settings: str,
) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    """A Mosquitto that queues without limit and a ``forestall worker --no-predictor`` on SQLite and
    the embedded store in a fresh folder, ``settings`` as more environment variables: (worker, broker
    port, metrics port), once it serves metrics. ``access(folder)`` gives the broker's access
    configuration; ``setup(port)`` runs once the broker listens and returns more environment
    variables."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    port, mport = free_port(), free_port()
    user = "user root\n" if os.geteuid() == 0 else ""
    (work / "m.conf").write_text(
        f"{user}listener {port} 127.0.0.1\n{access(work)}"
        "max_queued_messages 10000000\nmax_inflight_messages 1000\n"
    )
    broker = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(work / "m.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        **os.environ,
        "FORESTALL_MQTT__URL": f"mqtt://127.0.0.1:{port}",
        "FORESTALL_DATABASE_URL": f"sqlite:///{work / 'state.db'}",
        "FORESTALL_STORE__PATH": str(work / "tsdb.sqlite"),
        "FORESTALL_WORKER__METRICS_PORT": str(mport),
        "FORESTALL_WORKER__CHECKPOINT_DIR": str(work / "ck"),
    }
    if setup is not None:
        deadline = time.monotonic() + 10
        while not _listening(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        env.update(setup(port))
    env.update(settings)
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
        yield worker, port, mport
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:  # still working through a backlog: the figures are in
            worker.kill()
            worker.wait()
        worker_log.close()
        broker.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--assets", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0, help="publishing time per phase")
    parser.add_argument("--batches", default="50,1", help="samples per message, comma-separated")
    args = parser.parse_args()
    with ingest_stack("forestall-bench-ingest-") as (worker, port, mport):
        print(
            f"command: python bench/bench_ingest.py --assets {args.assets} --seconds {args.seconds:g} "
            f"--batches {args.batches}"
        )
        seq = 1
        for batch in (int(b) for b in args.batches.split(",")):
            flat = phase(args, worker.pid, mport, port, batch, 0, seq)
            seq = int(flat["last_seq"]) + 1
            ceiling_rate = ceiling(args, port, batch)
            half = phase(args, worker.pid, mport, port, batch, int(flat["samples_per_s"] / 2), seq)
            seq = int(half["last_seq"]) + 1
            print(
                f"{batch:>3}-sample batches: sustained {flat['samples_per_s']:,.0f} samples/s = "
                f"{flat['messages_per_s']:,.0f} msg/s "
                f"(mosquitto_sub, same stream: {ceiling_rate:,.0f} msg/s); "
                f"at half rate ({half['samples_per_s']:,.0f} samples/s) latency p50 {half['p50_ms']:.0f} ms, "
                f"p99 {half['p99_ms']:.0f} ms; CPU per message: worker {flat['worker_cpu_us_per_msg']:.0f} "
                f"µs, publisher {flat['publisher_cpu_us_per_msg']:.0f} µs; load average {flat['load']:.1f}"
            )
        print(f"worker peak memory: {peak_rss_mb(worker.pid):.0f} MB with {args.assets:,} assets")


if __name__ == "__main__":
    main()
