"""One writer thread for the webhook receiver: group commits, and the receiver's liveness.

Each request hands its events to the writer and waits; the writer takes the first, waits at most
``linger`` (10 ms) for more, takes everything that arrived meanwhile (at most ``max_events``) and
stores it in one transaction (``MessageStore.write``), then answers every request of the batch.
A transaction has a fixed cost (measured on SQLite: about 0.7 ms of CPU, more than a request's own
work), so at a few hundred webhooks a second writing each at once would spend the CPU on
transactions; with the linger a batch holds about ``rate x 10 ms`` events, and under heavier load
batches grow further by themselves while the previous one is written. A request waits at most the
linger longer. A request is answered only after the transaction holding its events is committed,
so nothing is acknowledged that is not stored; when the store cannot be written every request of
the batch hears so (503) and the service delivers again.

The writer also records that this receiver is alive, per service, in the store it writes
(``MessageStore.record_receiver_seen``): when it starts, after writes (at most every
``seen_interval`` seconds) and every ``heartbeat`` seconds when idle. A sensor waiting on webhooks
reads it to tell "no receiver writes this store" from "no event yet".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..core.events import InboundMessage, StatusEvent
from ..store.liveness import RECEIVER_HEARTBEAT
from ..store.store import MessageStore

log = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """The batch holding a request's events could not be committed."""


@dataclass
class _Request:
    service: str
    statuses: list[StatusEvent]
    inbound: list[InboundMessage]
    future: asyncio.Future[tuple[int, int]]
    loop: asyncio.AbstractEventLoop


_START = object()
_STOP = object()


class BatchWriter:
    def __init__(
        self,
        store: Callable[[], MessageStore],
        *,
        name: str,
        max_events: int = 2000,
        linger: float = 0.01,
        seen_interval: float = 5.0,
        heartbeat: float = RECEIVER_HEARTBEAT,
    ) -> None:
        self._store = store
        self.name = name
        self.max_events = max_events
        self.linger = linger
        self.seen_interval = seen_interval
        self.heartbeat = heartbeat
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._services: set[str] = set()
        self._seen: dict[str, float] = {}

    def start(self, services: Iterable[str] = ()) -> None:
        """Start the thread (once) and record this receiver alive for ``services``."""
        with self._lock:
            self._services.update(services)
            if self._thread is None or not self._thread.is_alive():
                # the thread holds the writer weakly: a receiver that is gone (a test's app) ends it
                self._thread = threading.Thread(
                    target=_run, args=(weakref.ref(self), self._queue, self.heartbeat),
                    name="messaging-webhook-writer", daemon=True,
                )  # fmt: skip
                self._thread.start()
                self._queue.put(_START)

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    async def write(
        self, service: str, statuses: list[StatusEvent], inbound: list[InboundMessage]
    ) -> tuple[int, int]:
        """Store the events with whatever else is queued; how many of each kind were new."""
        if self._thread is None or service not in self._services:
            self.start((service,))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[int, int]] = loop.create_future()
        self._queue.put(_Request(service, statuses, inbound, future, loop))
        return await future

    # -- in the writer thread --------------------------------------------------------------

    def _batch(self, first: _Request) -> bool:
        """Write ``first`` and whatever is queued behind it; False when asked to stop."""
        batch, size, going = [first], len(first.statuses) + len(first.inbound), True
        deadline = time.monotonic() + self.linger
        while size < self.max_events:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                going = False
                break
            if isinstance(item, _Request):
                batch.append(item)
                size += len(item.statuses) + len(item.inbound)
        try:
            self._write(batch)
        except Exception:  # whatever went wrong, no request may wait for ever
            log.exception("The webhook writer failed on a batch; answering 503")
            for r in batch:
                with contextlib.suppress(RuntimeError):
                    r.loop.call_soon_threadsafe(_settle, [(r.future, StoreUnavailable())])
        self._record_seen({r.service for r in batch} | self._services, self.seen_interval)
        return going

    def _write(self, batch: list[_Request]) -> None:
        statuses = [e for r in batch for e in r.statuses]
        inbound = [m for r in batch for m in r.inbound]
        answers: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
        try:
            result = self._store().write(statuses, inbound)
        except Exception as exc:
            log.error(
                "Could not write %d webhook events to the store (%s); answering 503 so they are sent again",
                len(statuses) + len(inbound), _what_failed(exc),
            )  # fmt: skip
            for r in batch:
                answers.setdefault(r.loop, []).append((r.future, StoreUnavailable()))
        else:
            counted: set[Any] = set()  # an event sent twice in one batch is new once
            for r in batch:
                new_statuses = {e.fingerprint for e in r.statuses} & result.new_statuses - counted
                new_inbound = {(m.service, m.message_id) for m in r.inbound} & result.new_inbound - counted
                counted |= new_statuses | new_inbound
                answers.setdefault(r.loop, []).append((r.future, (len(new_statuses), len(new_inbound))))
        for loop, settled in answers.items():
            # a closed loop (RuntimeError): nobody waits for these answers any more
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, settled)

    def _record_seen(self, services: Iterable[str], min_age: float) -> None:
        now = time.time()
        for service in sorted(services):
            if now - self._seen.get(service, float("-inf")) < min_age:
                continue
            try:
                self._store().record_receiver_seen(service, at=now, receiver=self.name)
                self._seen[service] = now
            except Exception as exc:
                log.warning("Could not record the receiver as alive (%s)", type(exc).__name__)


def _settle(settled: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, outcome in settled:
        if future.done():  # the request was cancelled (the caller hung up)
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def _what_failed(exc: BaseException) -> str:
    """A store error's text (the store states what failed without the values: store.errors);
    of anything else only its class, whose text might quote an event."""
    from sqlalchemy.exc import DBAPIError

    return str(exc) if isinstance(exc, DBAPIError) else type(exc).__name__


def _run(ref: weakref.ref[BatchWriter], jobs: queue.SimpleQueue[Any], heartbeat: float) -> None:
    while True:
        try:
            item = jobs.get(timeout=heartbeat)
        except queue.Empty:
            item = None
        if item is _STOP:
            return
        writer = ref()
        if writer is None:
            return
        try:
            if isinstance(item, _Request):
                if not writer._batch(item):
                    return
            else:  # started, or idle for a heartbeat
                writer._record_seen(writer._services, 0.0 if item is _START else heartbeat)
        except Exception:  # never let the thread die: the next request must be written
            log.exception("The webhook writer failed; continuing")
        finally:
            del writer
