"""The worker's bounded inbox: order kept, chunks taken whole, a full inbox holds its producer."""

from __future__ import annotations

import threading

from ingest.inbox import Inbox
from tests.support import wait_for


def test_chunks_come_out_in_order_and_a_put_back_chunk_comes_first() -> None:
    inbox: Inbox[int] = Inbox(10)
    for i in range(7):
        inbox.put(i)
    first = inbox.take(3)
    assert first == [0, 1, 2] and len(inbox) == 4
    inbox.put_back(first)  # a failed chunk is retried before anything newer
    assert inbox.take(100) == list(range(7))
    assert inbox.take(5, timeout=0.01) == []


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
