"""A sender's rate budget shared through the status store, so that several tasks hold one rate together.

The shards of a broadcast split by dynamic task mapping, and any other paced broadcast from the
same number, run in different processes, often on different machines. Each one paced on its own
would send at the full rate, and together at a multiple of it: the service answers 429. Here they
take their send slots from one row per ``(service, sender)`` that holds the next free slot time.
A task reserves a few slots at a time (about 100 ms of sending) in one atomic
``UPDATE ... RETURNING``: the row moves on by ``n / rate`` seconds and the task gets the ``n``
slots before that point. Slots are contiguous whoever takes them, so the tasks together send at
the configured rate, however many there are.

Times are the store's: PostgreSQL's ``clock_timestamp()`` (one clock for every machine, so clocks
that disagree between workers do not bunch sends), the local clock for SQLite (one machine). A
task turns a slot into its own monotonic time with the round trip's midpoint.

A 429 or a rate-limit code seen by any task is recorded in the row: the next free slot moves past
the pause the service asked for, and a counter tells every other task at its next reservation to
pause and halve its rate too (each then recovers step by step, as one task alone would).
"""

from __future__ import annotations

import asyncio
import functools
import math
import threading
import time
import uuid
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    func,
    literal,
    update,
)

from .store import MessageStore, insert_for

budget_metadata = MetaData()

rate_budgets = Table(
    "messaging_rate_budget",
    budget_metadata,
    Column("service", String(32), primary_key=True),
    Column("sender", String(255), primary_key=True),  # the sending number or phone number id
    Column("next_slot", Float, nullable=False),  # epoch seconds (store clock): the next free send slot
    Column("paused_until", Float, nullable=False),  # the last pause a service asked for
    Column("limits", Integer, nullable=False),  # rate limits recorded so far; a change slows everyone
    Column("limited_by", String(32)),  # which task recorded the last one (it slowed down already)
    Column("updated_at", Float, nullable=False),
)

# one reservation covers about this much sending time, and at most this many slots: a reservation
# costs about 0.8 ms of CPU on SQLite (measured), 4 % of a core at 20 ms per reservation and
# 1,000 msg/s, under 1 % at 100 ms
BATCH_SECONDS = 0.1
MAX_BATCH = 100


class SharedRateBudget:
    """Send slots of one sender, shared with every task that uses the same store.

    For :class:`~airflow_provider_messaging.core.pacing.Pacer` (``shared=``): :meth:`slot` gives
    the local time of the next slot, :meth:`limited` records a rate limit for everyone. Call
    :meth:`close` at the end (from sync code) to hand back slots reserved and not used.
    """

    def __init__(
        self,
        store: MessageStore,
        service: str,
        sender: str,
        *,
        batch_seconds: float = BATCH_SECONDS,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self.store = store
        self.service = service
        self.sender = sender[:255]
        self.batch_seconds = batch_seconds
        self.max_batch = max_batch
        self._postgres = store.engine.dialect.name == "postgresql"
        self._ready = False
        self._lock: asyncio.Lock | None = None
        self._start = 0.0  # local monotonic time of the first slot of the current batch
        self._spacing = 0.0
        self._taken = 0
        self._count = 0
        self._batch_end: float | None = None  # the row's next_slot after our last reservation
        self._limits = -1  # the row's counter when we last looked (-1: not looked yet)
        self._write_lock = threading.Lock()
        self.token = uuid.uuid4().hex
        self.reservations = 0
        self.pauses_from_others = 0

    # -- the store ---------------------------------------------------------------------------

    def _ensure_row(self) -> None:
        if self._ready:
            return
        self.store.ensure_schema()
        budget_metadata.create_all(self.store.engine, checkfirst=True)
        stmt = insert_for(self.store.engine, rate_budgets).values(
            service=self.service, sender=self.sender, next_slot=0.0, paused_until=0.0, limits=0,
            updated_at=time.time(),
        )  # fmt: skip
        with self.store.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["service", "sender"]))
        self._ready = True

    def _now(self) -> tuple[Any, float | None]:
        """The store's clock as a SQL expression, and its value when it is ours (SQLite)."""
        if self._postgres:
            return cast(func.extract("epoch", func.clock_timestamp()), Float), None
        now = time.time()
        return literal(now, Float), now

    def _where(self) -> Any:
        c = rate_budgets.c
        return and_(c.service == self.service, c.sender == self.sender)

    def reserve(self, count: int, spacing: float) -> tuple[float, float, float, int, str | None]:
        """Take ``count`` slots ``spacing`` seconds apart in one statement. Returns the local
        monotonic time of the first, the store time their span ends, the seconds left of the last
        pause a service asked for, the limit counter and who recorded the last limit."""
        self._ensure_row()
        c = rate_budgets.c
        now, local_now = self._now()
        span = count * spacing
        stmt = (
            update(rate_budgets)
            .where(self._where())
            .values(next_slot=case((c.next_slot > now, c.next_slot), else_=now) + span, updated_at=now)
            .returning(c.next_slot, now, c.paused_until, c.limits, c.limited_by)
        )
        with self._write_lock:
            sent = time.monotonic()
            with self.store.engine.begin() as conn:
                end, store_now, paused_until, limits, limited_by = conn.execute(stmt).one()
            received = time.monotonic()
        self.reservations += 1
        end, store_now = float(end), float(store_now)
        # the store's "now" was taken between sending and receiving: the midpoint is the best guess
        here = sent if local_now is not None else (sent + received) / 2
        pause_left = max(float(paused_until) - store_now, 0.0)
        return here + (end - span - store_now), end, pause_left, int(limits), limited_by

    def _record_limit(self, pause: float) -> None:
        self._ensure_row()
        c = rate_budgets.c
        now, _ = self._now()
        until = now + pause
        stmt = (
            update(rate_budgets)
            .where(self._where())
            .values(
                next_slot=case((c.next_slot > until, c.next_slot), else_=until),
                paused_until=case((c.paused_until > until, c.paused_until), else_=until),
                limits=c.limits + 1,
                limited_by=self.token,
                updated_at=now,
            )
        )
        with self._write_lock, self.store.engine.begin() as conn:
            conn.execute(stmt)

    # -- for the pacer -----------------------------------------------------------------------

    async def slot(self, rate: float) -> tuple[float, float]:
        """The local monotonic time of this send's slot at ``rate`` messages per second, and the
        seconds of a pause another task recorded since the last look (0.0 when there is none)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            pause = 0.0
            if self._taken >= self._count:
                pause = await self._refill(rate)
            when = self._start + self._taken * self._spacing
            self._taken += 1
            return when, pause

    async def _refill(self, rate: float) -> float:
        spacing = 1.0 / rate
        count = max(1, min(self.max_batch, math.ceil(rate * self.batch_seconds)))
        reserve = functools.partial(self.reserve, count, spacing)
        # PostgreSQL is a round trip across the network: let the other sends go on meanwhile
        start, end, pause_left, limits, limited_by = (
            await asyncio.to_thread(reserve) if self._postgres else reserve()
        )
        pause = 0.0
        if 0 <= self._limits < limits and limited_by != self.token:  # another task was limited
            self.pauses_from_others += 1
            pause = pause_left or 0.001  # the pause may be over already: still halve the rate
        self._limits = limits
        self._start, self._spacing, self._taken, self._count = start, spacing, 0, count
        self._batch_end = end
        return pause

    def limited(self, pause: float) -> None:
        """This task was rate limited: record the pause for every task sending from this number.

        Called from the event loop (the pacer's ``slow_down``); the write goes to a thread."""
        self._count = self._taken  # slots reserved before the pause are not used
        self._batch_end = None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._record_limit(pause)
            return
        threading.Thread(target=self._record_limit, args=(pause,), daemon=True).start()

    def close(self) -> None:
        """Hand back the slots of our last reservation that were not used, if nobody reserved after
        us (the row still ends where our reservation ended)."""
        if self._batch_end is None or self._taken >= self._count:
            return
        unused = (self._count - self._taken) * self._spacing
        stmt = (
            update(rate_budgets)
            .where(self._where(), rate_budgets.c.next_slot == self._batch_end)
            .values(next_slot=self._batch_end - unused)
        )
        with self._write_lock, self.store.engine.begin() as conn:
            conn.execute(stmt)
        self._batch_end = None


def open_rate_budget(service: str, sender: str, store: MessageStore | None = None) -> SharedRateBudget:
    """The shared rate budget of ``sender`` in the status store (``[messaging] store_url``)."""
    return SharedRateBudget(store or MessageStore(), service, sender)
