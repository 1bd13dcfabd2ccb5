"""The worker's bounded inbox: order kept, chunks taken whole, a full inbox holds its producer."""

from __future__ import annotations

import threading

from ingest.inbox import Inbox
from tests.support import wait_for


def test_chunks_come_out_in_order() -> None:
    inbox: Inbox[int] = Inbox(10)
    for i in range(7):
        inbox.put(i)
    assert inbox.take(3) == [0, 1, 2] and len(inbox) == 4
    assert inbox.take(100) == [3, 4, 5, 6]
    assert inbox.take(5, timeout=0.01) == []


def test_the_bound_counts_bytes_and_a_chunk_stays_within_its_budget() -> None:
    inbox: Inbox[bytes] = Inbox(100, max_bytes=10, size=len)
    producer = threading.Thread(target=lambda: [inbox.put(b"x" * n) for n in (4, 4, 4, 30)], daemon=True)
    producer.start()
    assert wait_for(lambda: len(inbox) == 2)
    producer.join(0.2)
    assert producer.is_alive() and inbox.bytes == 8  # a third 4-byte item would pass 10 bytes
    assert inbox.take(10, budget=5) == [b"xxxx"]  # the budget stops the chunk after one item
    assert wait_for(lambda: len(inbox) == 2) and inbox.bytes == 8
    assert inbox.take(10) == [b"xxxx", b"xxxx"]
    producer.join(10)  # an item larger than the bound still gets in, alone
    assert not producer.is_alive() and inbox.take(10) == [b"x" * 30] and inbox.bytes == 0


def test_a_full_inbox_holds_the_producer_until_a_chunk_is_taken() -> None:
    inbox: Inbox[int] = Inbox(3)

    def produce() -> None:
        for i in range(5):
            inbox.put(i)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    assert wait_for(lambda: len(inbox) == 3)
    producer.join(0.2)
    assert producer.is_alive()  # waiting for room
    assert inbox.take(2) == [0, 1]
    producer.join(10)
    assert not producer.is_alive() and inbox.take(10) == [2, 3, 4]


def test_a_taker_waiting_on_an_empty_inbox_wakes_for_the_first_item() -> None:
    inbox: Inbox[str] = Inbox(3)
    timer = threading.Timer(0.05, inbox.put, args=("x",))
    timer.start()
    assert inbox.take(10, timeout=30) == ["x"]
    timer.join()


def test_a_chunk_takes_each_tenants_messages_in_turn_keeping_each_ones_order() -> None:
    inbox: Inbox[str] = Inbox(100, key=lambda item: item[0])
    for item in ["a1", "a2", "a3", "a4", "b1", "a5", "c1", "b2"]:  # tenant a has a backlog
        inbox.put(item)
    assert inbox.take(5) == ["a1", "b1", "c1", "a2", "b2"]
    inbox.put("c2")
    assert inbox.take(10) == ["a3", "c2", "a4", "a5"] and len(inbox) == 0
