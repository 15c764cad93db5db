"""Idempotency keys never repeat: in one process, and across a fork."""

from __future__ import annotations

import os
import sys

import pytest

from unimsg._keys import new_key


def test_keys_differ_and_share_the_process_prefix() -> None:
    keys = [new_key() for _ in range(10_000)]
    assert len(set(keys)) == len(keys)
    assert len({k[:24] for k in keys}) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="no fork")
def test_a_forked_child_draws_its_own_prefix() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: without a new prefix, its keys would be the parent's next ones
        os.write(write, new_key().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 100).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent = new_key()
    assert child[:24] != parent[:24]
    assert child != parent
