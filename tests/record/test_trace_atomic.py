"""``in_atomic_block``: each thread keeps its connection objects, and looks them up again when they change."""

from __future__ import annotations

import threading

import pytest
from django.db import transaction

from async_audit.record.trace import in_atomic_block
from tests.record.conftest import close_this_threads_connections, replaced_connections

pytestmark = pytest.mark.django_db(transaction=True)


def test_inside_and_outside_an_atomic_block() -> None:
    assert in_atomic_block() is False
    with transaction.atomic():
        assert in_atomic_block() is True
        with transaction.atomic():  # a savepoint
            assert in_atomic_block() is True
        assert in_atomic_block() is True
    assert in_atomic_block() is False


def test_another_threads_atomic_block_is_not_this_threads() -> None:
    assert in_atomic_block() is False  # this thread's connections are now kept
    inside, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def other() -> None:
        try:
            with transaction.atomic():
                seen.append(in_atomic_block())
                inside.set()
                release.wait(5)
        finally:
            close_this_threads_connections()

    thread = threading.Thread(target=other)
    thread.start()
    try:
        assert inside.wait(5)
        assert in_atomic_block() is False
    finally:
        release.set()
        thread.join(5)
    assert seen == [True]


def test_replaced_connections_are_looked_up_again() -> None:
    assert in_atomic_block() is False  # this thread's connection objects are now kept
    with replaced_connections():
        with transaction.atomic():  # on a new connection object: the kept one would say False
            assert in_atomic_block() is True
        assert in_atomic_block() is False
