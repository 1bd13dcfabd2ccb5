"""Edge agent footprint: resident memory and CPU of one ``forestall edge`` process publishing
``--rate`` samples/s of ``--sensors`` sensors to a Mosquitto this script starts.

The samples come from the ``command`` driver in stream mode: a small generator program
prints one JSON line per sample (what a vendor tool or sensor bridge would do). Only the
agent process is measured (its own CPU, all threads, from ``/proc/<pid>/stat``; its
``VmRSS`` from ``/proc/<pid>/status``), not the generator or the broker. A subscriber
counts what reaches the broker, so the figures are for a run that really delivered.

    .venv/bin/python bench/bench_edge_agent.py --seconds 60

Prints the figures and the command line to reproduce them; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

GENERATOR = """
import json, math, sys, time
rate, sensors = float(sys.argv[1]), int(sys.argv[2])
names = [f"sensor_{i:02d}" for i in range(sensors)]
start, tick = time.time(), 0
while True:
    ts = start + tick / rate
    values = {name: round(50 + 10 * math.sin(ts / 30 + i), 3) for i, name in enumerate(names)}
    sys.stdout.write(json.dumps({"ts": round(ts, 3), "values": values}) + "\\n")
    sys.stdout.flush()
    tick += 1
    time.sleep(max(0.0, start + tick / rate - time.time()))
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_mosquitto(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    user = "user root\n" if os.geteuid() == 0 else ""
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"{user}listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("mosquitto did not start")


class Counter:
    """Counts telemetry samples that reach the broker."""

    def __init__(self, port: int) -> None:
        self.samples = 0
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-counter")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("forestall/v1/+/+/telemetry", qos=1)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        n = len(json.loads(message.payload)["samples"])
        with self.lock:
            self.samples += n

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def rss_kib(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def write_config(workdir: Path, port: int, rate: float, sensors: int, features: bool) -> Path:
    (workdir / "generator.py").write_text(GENERATOR)
    argv = json.dumps([sys.executable, "generator.py", str(rate), str(sensors)])
    config = workdir / "edge.toml"
    config.write_text(
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\n'
        '[agent]\ntenant = "bench"\nasset = "pump-0001"\nbuffer_path = "buffer.db"\n'
        f'[[sensors]]\ndriver = "command"\nname = "bridge"\nargv = {argv}\n'
    )
    if features:  # sensor_00 becomes a vibration-like channel: one feature sample per second
        with config.open("a") as file:
            file.write(
                f'[[sensors.features]]\nchannel = "sensor_00"\nwindow = {int(rate)}\nrate_hz = {rate}\n'
                f"bands_hz = [[0, {rate / 8:g}], [{rate / 8:g}, {rate / 2:g}]]\n"
            )
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured wall seconds (default 60)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (default 5)")
    parser.add_argument("--rate", type=float, default=100.0, help="samples per second (default 100)")
    parser.add_argument("--sensors", type=int, default=16, help="values per sample (default 16)")
    parser.add_argument(
        "--features", action="store_true", help="publish sensor_00 as window features (loads numpy)"
    )
    args = parser.parse_args()
    forestall = Path(sys.executable).parent / "forestall"
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        workdir = Path(tmp)
        broker, port = start_mosquitto(workdir)
        counter = Counter(port)
        config = write_config(workdir, port, args.rate, args.sensors, args.features)
        agent = subprocess.Popen(
            [str(forestall), "edge", "--config", str(config)], cwd=workdir, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(args.warmup)
            cpu0, wall0, received0 = cpu_seconds(agent.pid), time.monotonic(), counter.samples
            rss: list[int] = []
            end = wall0 + args.seconds
            while time.monotonic() < end and agent.poll() is None:
                rss.append(rss_kib(agent.pid))
                time.sleep(1.0)
            cpu1, wall1, received1 = cpu_seconds(agent.pid), time.monotonic(), counter.samples
            peak = rss_kib(agent.pid, "VmHWM")
        finally:
            agent.terminate()
            agent.wait(30)
            counter.close()
            broker.terminate()
            broker.wait(10)
    elapsed = wall1 - wall0
    command = shlex.join(sys.argv)
    extra = " with sensor_00 as a feature channel" if args.features else ""
    print(f"edge agent, {args.sensors} sensors at {args.rate:g} samples/s{extra}, {elapsed:.0f} s measured:")
    print(f"  delivered   {(received1 - received0) / elapsed:8.1f} samples/s to the broker")
    print(f"  CPU         {100 * (cpu1 - cpu0) / elapsed:8.2f} % of one core (agent process, all threads)")
    print(f"  RSS         {sum(rss) / len(rss) / 1024:8.1f} MiB mean, {max(rss) / 1024:.1f} MiB max, "
          f"{peak / 1024:.1f} MiB peak (VmHWM)")  # fmt: skip
    print(f"  reproduce:  {sys.executable} {command}")


if __name__ == "__main__":
    main()
