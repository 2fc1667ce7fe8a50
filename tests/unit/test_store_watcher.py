"""Store-backed triggers wake when their messages change, through one shared look at the store."""

from __future__ import annotations

import asyncio

from airflow_provider_messaging.core.events import StatusEvent
from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.store import watcher as watcher_module
from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.triggers.delivery import StoreStatusTrigger


def trigger(url, ids, poll_interval=3600.0):
    return StoreStatusTrigger(service="whatsapp", store_url=url, message_ids=ids, success_states=["delivered"],
                              failure_states=["failed"], poll_interval=poll_interval)  # fmt: skip


def test_a_status_landing_in_the_store_wakes_its_trigger_long_before_the_poll_interval(tmp_path, monkeypatch):
    monkeypatch.setattr(watcher_module, "WATCH_INTERVAL", 0.05)
    url = f"sqlite:///{tmp_path / 's.db'}"
    writer = MessageStore(url)
    writer.ensure_schema()

    async def scenario():
        waiting = [asyncio.create_task(trigger(url, [f"w{n}"]).run().__anext__()) for n in range(50)]
        await asyncio.sleep(0.2)
        assert not any(t.done() for t in waiting)  # nothing delivered yet: all still waiting
        await asyncio.to_thread(
            writer.record_statuses,
            [StatusEvent("whatsapp", f"w{n}", MessageState.DELIVERED, "delivered", 1.0) for n in range(25)],
        )
        done, _ = await asyncio.wait(waiting[:25], timeout=30)  # poll_interval is an hour
        await asyncio.sleep(0.2)
        still = [t for t in waiting[25:] if not t.done()]
        watchers = [w for w in watcher_module._watchers.values() if w.store.url == url]
        for task in waiting[25:]:
            task.cancel()
        return done, still, watchers

    done, still, watchers = asyncio.run(scenario())
    assert len(done) == 25 and len(still) == 25  # the others' messages did not change
    assert {t.result().payload["status"] for t in done} == {"success"}
    assert len(watchers) == 1  # fifty triggers, one look at the store per interval
    writer.dispose()
