"""The stand-in's mailbox keeps each account's envelopes in order, as the service does."""

from __future__ import annotations

import threading
import time

from .delivery import Mailbox


def test_envelopes_never_acknowledged_come_back_first_in_their_order() -> None:
    pushed: list[bytes] = []
    online = False

    def push(aci: str, envelope: bytes) -> bool:
        if online:
            pushed.append(envelope)
        return online

    box = Mailbox(push)
    box.enqueue("a", b"3")  # the socket closed: queued
    box.requeue("a", [b"1", b"2"])  # what that socket had not acknowledged
    online = True
    box.flush("a")
    assert pushed == [b"1", b"2", b"3"]


def test_concurrent_requests_push_in_queue_order() -> None:
    pushed: list[bytes] = []
    first_push_started = threading.Event()

    def push(aci: str, envelope: bytes) -> bool:
        if envelope == b"1":
            first_push_started.set()
            time.sleep(0.2)  # a slow socket write: the second request arrives meanwhile
        pushed.append(envelope)
        return True

    box = Mailbox(push)
    first = threading.Thread(target=box.enqueue, args=("a", b"1"))
    first.start()
    assert first_push_started.wait(5)
    second = threading.Thread(target=box.enqueue, args=("a", b"2"))
    second.start()
    first.join(5)
    second.join(5)
    assert pushed == [b"1", b"2"]
