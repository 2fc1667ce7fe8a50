"""One look at the status store for every trigger waiting on it, instead of one look per trigger.

A triggerer may hold a thousand delivery gates. If each polled the store for its own ids, the
store would see a thousand queries per interval and the triggerer would spend its time on them.
Here one task per event loop and store asks a single indexed question every ``interval`` seconds
("which messages changed since I last looked, and what do they say now?") and hands each waiting
trigger the rows of its own messages. A status that lands in the store thus reaches its gate
within about one interval, at the cost of one cheap query per interval per triggerer.

Why not PostgreSQL LISTEN/NOTIFY: it would need a dedicated connection per triggerer, does not
exist on SQLite (the default store), and the polling query already meets the latency goal (see
README, Performance).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from ..core.delivery import Observation
from .store import MessageStore

log = logging.getLogger("airflow_provider_messaging.watcher")

WATCH_INTERVAL = 0.5  # seconds between looks at the store
OVERLAP = 2.0  # look back this far each time: commits land out of timestamp order, clocks differ

_stores: dict[str, MessageStore] = {}
_watchers: dict[tuple[int, str, str], StoreWatcher] = {}


def shared_store(url: str | None) -> MessageStore:
    """One store (one connection pool) per URL per process."""
    store = MessageStore(url)
    return _stores.setdefault(store.url, store)


class StoreWatcher:
    def __init__(self, store: MessageStore, service: str, interval: float | None = None) -> None:
        self.store = store
        self.service = service
        self.interval = interval or WATCH_INTERVAL
        self._waiters: dict[asyncio.Future[dict[str, Observation]], set[str]] = {}
        self._since = time.time() - OVERLAP
        self._seen: dict[str, float] = {}  # id -> updated_at already announced (within the overlap)
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def shared(cls, store_url: str | None, service: str) -> StoreWatcher:
        """The watcher for this event loop, store and service (created on first use)."""
        store = shared_store(store_url)
        key = (id(asyncio.get_running_loop()), store.url, service)
        watcher = _watchers.get(key)
        if watcher is None:
            watcher = _watchers[key] = cls(store, service)
        return watcher

    async def wait_for_change(self, message_ids: Iterable[str], timeout: float) -> dict[str, Observation]:
        """What changed among ``message_ids`` as soon as something did; ``{}`` after ``timeout``."""
        future: asyncio.Future[dict[str, Observation]] = asyncio.get_running_loop().create_future()
        self._waiters[future] = set(message_ids)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch())
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return {}
        finally:
            self._waiters.pop(future, None)

    async def _watch(self) -> None:
        while self._waiters:
            await asyncio.sleep(self.interval)
            try:
                rows = await asyncio.to_thread(self.store.changed_since, self.service, self._since)
            except Exception as exc:  # the store is down: triggers fall back to their poll_interval
                log.warning("Could not read the status store (%s); retrying", exc)
                continue
            changed = {obs.message_id: obs for ts, obs in rows if self._seen.get(obs.message_id) != ts}
            if rows:
                self._since = max(self._since, max(ts for ts, _ in rows) - OVERLAP)
                self._seen.update((obs.message_id, ts) for ts, obs in rows)
                self._seen = {i: ts for i, ts in self._seen.items() if ts >= self._since}
            if not changed:
                continue
            for future, ids in list(self._waiters.items()):
                mine = {i: changed[i] for i in ids.intersection(changed)}
                if mine and not future.done():
                    future.set_result(mine)
