"""Two receiver workers writing one PostgreSQL store: a batch the database picks as a deadlock's
victim is written again, not answered 503 (the rows are also sorted, so this stays rare)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.exc import OperationalError

from airflow_provider_messaging.core.events import StatusEvent
from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.store.store import MessageStore


class Deadlock(Exception):
    sqlstate = "40P01"


def event(n: int) -> StatusEvent:
    return StatusEvent("whatsapp", f"wamid.{n}", MessageState.DELIVERED, "delivered", time.time())


@pytest.fixture
def store(tmp_path):
    return MessageStore(f"sqlite:///{tmp_path / 'store.db'}")


def test_a_deadlocked_batch_is_written_again(store, monkeypatch):
    insert, failures = store._insert, [1]

    def deadlock_once(*args):
        if failures:
            failures.pop()
            raise OperationalError("INSERT", {}, Deadlock("deadlock detected"))
        return insert(*args)

    monkeypatch.setattr(store, "_insert", deadlock_once)
    result = store.write([event(2), event(1)], [])
    assert len(result.new_statuses) == 2 and not result.skipped
    assert set(store.get_statuses("whatsapp", ["wamid.1", "wamid.2"])) == {"wamid.1", "wamid.2"}


def test_other_failures_still_say_the_store_is_down(store, monkeypatch):
    def down(*args):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(store, "_insert", down)
    with pytest.raises(OperationalError):
        store.write([event(1)], [])
