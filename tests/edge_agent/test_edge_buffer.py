from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.buffer import Buffer, BufferLimits
from forestall.contract import MAX_PAYLOAD_BYTES, MAX_SAMPLES, Sample, parse_telemetry

ASSET = "pump-0042"


def samples(n: int, start: float = 1_795_460_400.0, width: int = 1) -> list[Sample]:
    return [Sample(start + i, {f"s{j}": float(i * 10 + j) for j in range(width)}) for i in range(n)]


def open_buffer(tmp_path: Path, **limits: float) -> Buffer:
    return Buffer(tmp_path / "buffer.db", ASSET, limits=BufferLimits(**limits))  # type: ignore[arg-type]


def decoded(buffer: Buffer) -> list[tuple[int, list[float]]]:
    return [
        (seq, [s.ts for s in parse_telemetry(payload, asset=ASSET).samples])
        for seq, payload in buffer.pending(10_000)
    ]


def test_batches_are_formed_once_and_replayed_byte_for_byte(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    buffer.append(samples(5), now=0.0)
    assert buffer.form_batches(0.5, max_samples=500, max_age_s=1.0) == 0  # still filling
    assert buffer.form_batches(1.0, max_samples=500, max_age_s=1.0) == 1
    first = buffer.pending(10)
    assert [seq for seq, _ in first] == [1]
    assert buffer.form_batches(5.0, max_samples=500, max_age_s=1.0) == 0
    buffer.close()
    reopened = open_buffer(tmp_path)
    assert reopened.pending(10) == first
    assert reopened.form_batches(9.0, force=True) == 0


def test_seq_is_monotonic_across_reopen_even_when_everything_was_acked(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    buffer.append(samples(3), now=0.0)
    buffer.form_batches(0.0, force=True)
    assert buffer.ack(1)
    buffer.close()
    buffer = open_buffer(tmp_path)
    assert buffer.stats().pending_samples == 0
    buffer.append(samples(3, start=2e9), now=1.0)
    buffer.form_batches(1.0, force=True)
    assert [seq for seq, _ in buffer.pending(10)] == [2]


def test_ack_removes_the_batch_and_counts(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    buffer.append(samples(1200), now=0.0)
    assert buffer.form_batches(0.0, max_samples=500, max_age_s=60.0) == 2  # 200 keep waiting
    assert [(seq, len(ts)) for seq, ts in decoded(buffer)] == [(1, 500), (2, 500)]
    assert buffer.ack(1)
    assert not buffer.ack(1)
    assert not buffer.ack(99)
    stats = buffer.stats()
    assert (stats.pending_samples, stats.pending_batches, stats.samples_acked, stats.batches_acked) == (
        700,
        1,
        500,
        1,
    )
    assert stats.samples_buffered == 1200
    assert [seq for seq, _ in buffer.pending(10)] == [2]


def test_samples_are_batched_in_order_exactly_once(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    for chunk in range(7):
        buffer.append(samples(333, start=chunk * 1000.0), now=float(chunk))
        buffer.form_batches(float(chunk), max_samples=MAX_SAMPLES, max_age_s=2.0)
    buffer.form_batches(100.0, force=True)
    stamps = [ts for _, batch in decoded(buffer) for ts in batch]
    assert stamps == [chunk * 1000.0 + i for chunk in range(7) for i in range(333)]


def test_oldest_first_drop_is_counted(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path, max_samples=10)
    buffer.append(samples(4, start=0.0), now=0.0)
    buffer.form_batches(0.0, force=True)  # seq 1: ts 0..3
    buffer.append(samples(4, start=10.0), now=1.0)
    buffer.form_batches(1.0, force=True)  # seq 2: ts 10..13
    buffer.append(samples(4, start=20.0), now=2.0)  # 12 > 10: the whole oldest batch goes
    stats = buffer.stats()
    assert (stats.dropped, stats.pending_samples) == (4, 8)
    assert [seq for seq, _ in buffer.pending(10)] == [2]
    buffer.append(samples(5, start=30.0), now=3.0)  # 13 > 10: batch 2 goes, still 9 <= 10
    buffer.append(samples(3, start=40.0), now=4.0)  # 12 > 10: the 2 oldest loose samples go
    buffer.form_batches(4.0, force=True)
    assert buffer.stats().dropped == 10
    assert decoded(buffer) == [(3, [22.0, 23.0, 30.0, 31.0, 32.0, 33.0, 34.0, 40.0, 41.0, 42.0])]


def test_old_samples_are_dropped_and_counted(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path, max_age_s=100.0)
    buffer.append(samples(3, start=0.0), now=0.0)
    buffer.form_batches(0.0, force=True)
    buffer.append(samples(2, start=50.0), now=50.0)
    buffer.append(samples(1, start=150.0), now=150.0)  # the first 3 were buffered 150 s ago
    assert buffer.stats().dropped == 3
    buffer.form_batches(150.0, force=True)
    assert [ts for _, batch in decoded(buffer) for ts in batch] == [50.0, 51.0, 150.0]


def test_driver_state_is_stored_with_its_samples(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    buffer.append(samples(2), {"replay": {"row": 2, "pass": 0}}, now=0.0)
    with pytest.raises(ValueError):  # NaN cannot be stored: the whole append is rolled back
        buffer.append([Sample(1.0, {"x": math.nan})], {"replay": {"row": 3, "pass": 0}}, now=1.0)
    assert buffer.stats().samples_buffered == 2
    buffer.close()
    buffer = open_buffer(tmp_path)
    assert buffer.driver_states() == {"replay": {"row": 2, "pass": 0}}
    assert buffer.stats().pending_samples == 2


def test_payloads_stay_under_the_size_limit(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    wide = samples(300, width=400)  # ~8 KB per sample: ~30 per batch
    buffer.append(wide, now=0.0)
    buffer.form_batches(0.0, force=True)
    batches = buffer.pending(100)
    assert len(batches) > 5
    assert all(len(payload) <= MAX_PAYLOAD_BYTES for _, payload in batches)
    assert all(len(payload) > MAX_PAYLOAD_BYTES * 0.9 for _, payload in batches[:-1])  # packed, not halved
    assert [ts for _, batch in decoded(buffer) for ts in batch] == [s.ts for s in wide]


def test_a_sample_too_large_to_send_is_dropped_and_counted(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    buffer.append([*samples(1), *samples(1, start=5.0, width=20_000), *samples(1, start=9.0)], now=0.0)
    buffer.form_batches(0.0, force=True)
    assert buffer.stats().dropped == 1
    assert [ts for _, batch in decoded(buffer) for ts in batch] == [1_795_460_400.0, 9.0]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    widths=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=40),
    max_samples=st.integers(min_value=1, max_value=MAX_SAMPLES),
)
def test_any_mix_of_samples_fits_the_contract(tmp_path: Path, widths: list[int], max_samples: int) -> None:
    path = tmp_path / f"{len(widths)}-{max_samples}-{sum(widths)}.db"
    path.unlink(missing_ok=True)
    buffer = Buffer(path, ASSET)
    sent = [Sample(float(i), {f"sensor_{j}": j * 1.5 for j in range(w)}) for i, w in enumerate(widths)]
    buffer.append(sent, now=0.0)
    buffer.form_batches(0.0, max_samples=max_samples, force=True)
    got: list[float] = []
    for _, payload in buffer.pending(10_000):
        assert len(payload) <= MAX_PAYLOAD_BYTES
        batch = parse_telemetry(payload, asset=ASSET)
        assert 1 <= len(batch.samples) <= max_samples and not batch.rejected
        got.extend(s.ts for s in batch.samples)
    assert got == [s.ts for s in sent]
    buffer.close()


def test_acks_from_another_thread_while_buffering(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    stop = threading.Event()
    acked: list[int] = []

    def acker() -> None:
        while not stop.is_set():
            for seq, _ in buffer.pending(5):
                if buffer.ack(seq):
                    acked.append(seq)

    thread = threading.Thread(target=acker)
    thread.start()
    for i in range(200):
        buffer.append(samples(5, start=i * 10.0), now=float(i))
        buffer.form_batches(float(i), force=True)
    stop.set()
    thread.join()
    for seq, _ in buffer.pending(1000):
        acked.append(seq) if buffer.ack(seq) else None
    assert sorted(acked) == list(range(1, 201))
    stats = buffer.stats()
    assert (stats.samples_acked, stats.pending_samples, stats.batches_acked) == (1000, 0, 200)


def test_counters_survive_reopen(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path, max_samples=3)
    buffer.append(samples(5), now=0.0)
    buffer.close()
    stats = open_buffer(tmp_path, max_samples=3).stats()
    assert (stats.dropped, stats.samples_buffered, stats.pending_samples) == (2, 5, 3)
    assert stats.next_seq == 1


def test_pending_skips_the_batches_in_flight(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    for i in range(6):
        buffer.append(samples(1, start=float(i)), now=float(i))
        buffer.form_batches(float(i), force=True)
    assert [seq for seq, _ in buffer.pending(3, exclude={1, 2, 4})] == [3, 5, 6]
    assert [seq for seq, _ in buffer.pending(2)] == [1, 2]
