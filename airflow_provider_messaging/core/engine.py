"""The send engine: the one path every send takes, from a single notification to a 100,000-row broadcast.

Rows are read one at a time into a bounded queue, so memory stays flat however long the list.
``concurrency`` workers take rows, claim them in the ledger (claims and outcomes are written in
groups), wait for a slot from the pacer and send through the service's :class:`Sender`.

What happens to a send, decided by the error's class and scope (each service's error table):
- accepted: recorded with its message id;
- refused for this recipient: recorded ``failed`` with the code; the others go on;
- refused in a way every further send would meet (credentials, a paused template, a locked
  account): the batch stops at once, after the sends already under way have finished and been
  recorded; the rest is counted ``not_attempted``;
- rate limited: every sender pauses for ``Retry-After`` and the rate drops, then the same request is
  tried again; a limit on one recipient (WhatsApp's pair limit) makes only that recipient wait;
  5xx before acceptance: backoff, then again;
- sent but no answer (``OutcomeUnknownError``): recorded ``unknown`` and never resent automatically;
- told to stop (the task timed out or was killed, :func:`interrupt_sends`): no further request
  leaves, the ones under way finish and are recorded, and sends claimed but not yet made are
  ``withdrawn`` so that a retry makes them.

No Airflow here: the Airflow face gives the engine ``prepare`` (row to validated send, or
``ValidationError``), the service's sender and the task run's ledger.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import gc
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from .claims import Action, Decision, EntryState, Ledger, Outcome
from .errors import (
    MessagingError,
    OutcomeUnknownError,
    RateLimitedError,
    Scope,
    TransientError,
    ValidationError,
)
from .pacing import Pacer, SharedSlots
from .report import SendReport
from .retry import RetryPolicy, acall_with_retries
from .rows import Row

P = TypeVar("P")
T = TypeVar("T")
log = logging.getLogger("airflow_provider_messaging.send")
RECIPIENT_WAIT_CAP = 60.0  # seconds one recipient waits at most after a rate limit on it
MAX_RECONCILED = 1000  # sends in doubt looked up at the service per run (one request each)
CLAIM_WINDOW = 0.05  # seconds a paced run's claims may wait to be written together
OUTCOME_WINDOW = 0.05  # seconds outcomes wait to be written together


@dataclass(frozen=True)
class SendResult:
    """A send the service accepted: one shape for every service and API."""

    message_id: str
    to: str
    status: str | None = None  # the service's status when it answered (queued, accepted, ...)
    details: Mapping[str, Any] = field(default_factory=dict)  # e.g. wa_id, num_segments

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.message_id, "to": self.to, "status": self.status, **self.details}


@dataclass(frozen=True)
class PreparedSend(Generic[P]):
    row: int
    recipient: str
    content: Any  # JSON-able description of what is sent, for the ledger key
    payload: P  # what the sender needs


class Sender(Protocol[P]):
    """How one service sends one prepared message: one request, no retries of its own.

    A sender may also have ``async def reconcile(self, item, since) -> SendResult | None``: look the
    message up at the service (a send attempted at ``since`` whose answer was lost) and return it
    when the service has it. The engine asks once for every send whose outcome stayed unknown.
    """

    recipient_interval: float  # seconds between two messages to one recipient (0: no such limit)

    async def send(self, item: PreparedSend[P]) -> SendResult: ...


class SendInterrupted(MessagingError):
    """The run was told to stop while sending (see :func:`interrupt_sends`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"Sending stopped: {reason}. The sends under way finished and were recorded; no further "
            "request was made, so a retry of the task sends only to the recipients without the message"
        )


class _Withdrawn(Exception):
    """A claimed send whose request never left, because the run was told to stop."""


_running: set[tuple[SendEngine[Any], asyncio.AbstractEventLoop]] = set()
_running_lock = threading.Lock()


def interrupt_sends(reason: str) -> int:
    """Tell every send running in this process to stop (thread-safe; also from a signal handler).

    Requests under way finish and are recorded, nothing more is sent, and each run ends in
    :class:`SendStopped` with :class:`SendInterrupted`. Returns how many runs were told.
    """
    with _running_lock:
        running = list(_running)
    for engine, loop in running:
        with suppress(RuntimeError):  # that loop has just closed: its run is over
            loop.call_soon_threadsafe(engine.interrupt, reason)
    return len(running)


class SendStopped(Exception):
    """The batch stopped (an error that would hit every send, or :func:`interrupt_sends`); ``report``
    says what had been done."""

    def __init__(self, cause: MessagingError, report: SendReport) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.report = report


def run_blocking(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code, on an event loop in a thread of its own.

    The calling thread only waits, so that a signal lands there and not inside the event loop:
    Airflow's ``execution_timeout`` raises ``AirflowTaskTimeout`` from a SIGALRM handler, which
    inside a running loop uvloop swallows (the task ran on past its timeout and succeeded) and
    asyncio's loop leaves hanging. Here the exception stops the sends (:func:`interrupt_sends`);
    once what was under way is recorded it is raised, with what was done as a note and the
    run's :class:`SendStopped` as its cause. This also serves callers that already run a loop.

    The loop is uvloop's where it is installed (measured: about a tenth less CPU per send than
    asyncio's own loop; README, Performance), asyncio's otherwise.
    """
    context = contextvars.copy_context()  # the task's logging context, as in the caller
    with ThreadPoolExecutor(1, thread_name_prefix="messaging-send") as pool:
        future = pool.submit(context.run, lambda: _run(make()))
        try:
            concurrent.futures.wait([future])
        except BaseException as interruption:
            interrupt_sends(f"{type(interruption).__name__} in the task ({interruption})")
            try:
                future.result()
            except SendStopped as stopped:
                interruption.add_note(f"What was sent before it: {stopped.report.summary()}")
                raise interruption from stopped
            except BaseException:
                pass
            raise
        return future.result()


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


_spared = 0  # engines running in this process with the collector spared (see _collector_spared)
_spared_lock = threading.Lock()
_saved_threshold: tuple[int, int, int] = (700, 10, 10)
YOUNG_THRESHOLD = 10_000  # allocations between two young-generation collections during a run


@contextmanager
def _collector_spared() -> Iterator[None]:
    """Keep Python's cycle collector from walking the whole heap while sends run.

    A task process holds Airflow, SQLAlchemy and the provider: a million objects, which each full
    collection walks (measured: 2 full passes in 4,000 sends cost 0.27 s, 65 us a send; young
    passes another 35 us). The heap that exists when a run starts is frozen (never collected
    while frozen; it was there before and stays) and young passes come every YOUNG_THRESHOLD
    allocations instead of 700. Both are undone when the last run in the process ends.
    """
    global _spared, _saved_threshold
    with _spared_lock:
        if _spared == 0:
            _saved_threshold = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(max(_saved_threshold[0], YOUNG_THRESHOLD), *_saved_threshold[1:])
        _spared += 1
    try:
        yield
    finally:
        with _spared_lock:
            _spared -= 1
            if _spared == 0:
                gc.set_threshold(*_saved_threshold)
                gc.unfreeze()


class _GroupCommit:
    """Collects items from many workers and writes them in one call per group, off the event loop.

    ``write`` gets the group's items and returns one result per item, in order. ``inline`` runs it
    on the event loop: right for SQLite (a local write takes well under a millisecond, and a thread
    hop per group costs more than it saves: measured, a third of the throughput), wrong for a
    database across the network (PostgreSQL), which goes to a thread so sends continue meanwhile.

    ``window``: seconds a group stays open for more items after its first (0: it is written at the
    next turn of the event loop). A transaction costs far more than a row in it, so where nothing
    hurries (outcomes; claims while a pacer holds the sends back anyway) a short window turns many
    one-row transactions into a few large ones. :meth:`flush` closes an open window at once.
    """

    def __init__(
        self,
        write: Callable[[list[Any]], list[Any]],
        *,
        inline: bool,
        max_group: int = 500,
        window: float = 0.0,
    ) -> None:
        self._write = write
        self._inline = inline
        self._max_group = max_group
        self.window = window
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self._runner: asyncio.Task[None] | None = None
        self._open: asyncio.Future[None] | None = None  # the window of the group being collected

    def submit(self, item: Any) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain())
        elif self._open is not None and len(self._pending) >= self._max_group:
            self._close_window()
        return future

    def _close_window(self) -> None:
        if self._open is not None and not self._open.done():
            self._open.set_result(None)

    async def _drain(self) -> None:
        if self.window > 0:
            loop = asyncio.get_running_loop()
            self._open = loop.create_future()
            timer = loop.call_later(self.window, self._close_window)
            try:
                await self._open
            finally:
                timer.cancel()
                self._open = None
        while self._pending:
            group, self._pending = self._pending[: self._max_group], self._pending[self._max_group :]
            try:
                items = [item for item, _ in group]
                results = self._write(items) if self._inline else await asyncio.to_thread(self._write, items)
            except Exception as exc:
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def flush(self) -> None:
        while self._runner is not None and not self._runner.done():
            self._close_window()
            await self._runner


class SendEngine(Generic[P]):
    def __init__(
        self,
        *,
        prepare: Callable[[Row], PreparedSend[P]],
        sender: Sender[P],
        ledger: Ledger | None = None,
        rate: float | None = None,
        concurrency: int = 16,
        retry_policy: RetryPolicy | None = None,
        total: int | None = None,
        progress_interval: float = 10.0,
        to_column: str = "to",
        keep_results: bool = False,
        logger: logging.Logger | Any = None,
        rate_budget: SharedSlots | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.prepare, self.sender, self.ledger = prepare, sender, ledger
        self.pacer = Pacer(rate, recipient_interval=sender.recipient_interval, shared=rate_budget)
        self.concurrency = concurrency
        self.retry_policy = retry_policy or RetryPolicy(max_attempts=6)
        self.total = total
        self.progress_interval = progress_interval
        self.to_column = to_column
        self.log = logger or log
        self.report = SendReport(results=[] if keep_results else None, errors=[] if keep_results else None)
        self._stop: MessagingError | None = None
        self._in_doubt: list[tuple[PreparedSend[P], str | None, float]] = []  # (send, ledger key, when)
        self._between_requests: set[asyncio.Task[Any]] = set()  # sends waiting for a slot or a retry
        self._withdrawing: set[asyncio.Task[Any]] = set()  # of those, the ones a stop cancelled
        inline = ledger is not None and ledger.writes_are_local
        # claims: a send waits for its claim, so a group is written at once unless a pacer holds
        # the sends back anyway (then a quarter of the time the workers' backlog covers); outcomes:
        # nothing waits for them, so a group collects for OUTCOME_WINDOW (a crash in between
        # leaves those sends pending, which a retry treats as outcome unknown: never resent)
        claim_window = 0.0 if rate is None else min(CLAIM_WINDOW, concurrency / rate / 4)
        self._claims = _GroupCommit(self._claim_group, inline=inline, window=claim_window)
        self._outcomes = _GroupCommit(self._record_group, inline=inline, window=OUTCOME_WINDOW)

    # -- ledger --------------------------------------------------------------------------

    def _claim_group(self, items: list[tuple[str, str]]) -> list[Decision]:
        assert self.ledger is not None
        decisions = self.ledger.claim(items)
        results, seen = [], set()
        for key, _ in items:
            # the same row twice in one group: the first is sent, the copy is a duplicate
            results.append(decisions[key] if key not in seen else Decision(Action.DUPLICATE))
            seen.add(key)
        return results

    def _record_group(self, outcomes: list[Outcome]) -> list[None]:
        assert self.ledger is not None
        self.ledger.record(outcomes)
        return [None] * len(outcomes)

    async def _claim(self, item: PreparedSend[P]) -> tuple[str | None, Decision]:
        if self.ledger is None:
            return None, Decision(Action.SEND)
        key = self.ledger.key(item.recipient, item.content)
        return key, await self._claims.submit((key, item.recipient))

    def _record(
        self, key: str | None, state: EntryState, message_id: str | None = None, code: str | None = None
    ) -> None:
        if key is not None and self.ledger is not None:
            self._outcomes.submit(Outcome(key, state, message_id, code))

    # -- the run -------------------------------------------------------------------------

    async def run(self, rows: Iterable[Row]) -> SendReport:
        entry = (self, asyncio.get_running_loop())
        with _running_lock:
            _running.add(entry)
        try:
            with _collector_spared():
                return await self._run(rows)
        finally:
            with _running_lock:
                _running.discard(entry)

    def interrupt(self, reason: str) -> None:
        """Stop: no new request leaves; the ones under way finish. Call on the engine's loop."""
        if self._stop is None:
            self.log.warning("Stopping the sends: %s", reason)
            self._stop = SendInterrupted(reason)
        for task in self._between_requests - self._withdrawing:
            self._withdrawing.add(task)
            task.cancel()

    async def _run(self, rows: Iterable[Row]) -> SendReport:
        started = time.monotonic()
        queue: asyncio.Queue[PreparedSend[P] | None] = asyncio.Queue(maxsize=self.concurrency * 2)
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(self.concurrency)]
        progress = asyncio.create_task(self._progress(started))
        try:
            for row in rows:
                self.report.rows += 1
                item = self._prepare(row)
                if item is not None:
                    await queue.put(item)
                if self._stop is not None:
                    break
        finally:
            for _ in workers:
                await queue.put(None)
            results = await asyncio.gather(*workers, return_exceptions=True)
            progress.cancel()
            if not isinstance(self._stop, SendInterrupted):
                await self._reconcile()
            await self._claims.flush()
            await self._outcomes.flush()
            self.report.elapsed = time.monotonic() - started
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if self._stop is not None:
            raise SendStopped(self._stop, self.report)
        return self.report

    def _prepare(self, row: Row) -> PreparedSend[P] | None:
        to = row.values.get(self.to_column) if row.values else None
        if row.problem:
            self.report.add_invalid(row.number, to, row.problem)
            return None
        try:
            return self.prepare(row)
        except ValidationError as exc:
            self.log.warning("Row %d skipped: %s", row.number, exc)
            self.report.add_invalid(row.number, to, str(exc))
            return None

    async def _worker(self, queue: asyncio.Queue[PreparedSend[P] | None]) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            if self._stop is not None:
                self.report.not_attempted += 1  # after a stop nothing more is claimed or sent
                continue
            key, decision = await self._claim(item)
            if decision.action is Action.SEND:
                await self._send(item, key)
            elif decision.action is Action.ALREADY_SENT:
                self.log.info(
                    "Already sent to %s by an earlier try (%s): skipped", item.recipient, decision.message_id
                )
                self.report.add_already_sent(decision.message_id)
            elif decision.action is Action.DUPLICATE:
                self.report.duplicates += 1
            else:
                self.log.warning(
                    "Not sending to %s (row %d): an earlier try's request may have reached the service "
                    "(on_unknown='resend' sends anyway)",
                    item.recipient,
                    item.row,
                )
                self.report.add_unknown(item.recipient)

    async def _reconcile(self) -> None:
        """Ask the service about sends whose answer was lost; the ones it has count as accepted."""
        reconcile = getattr(self.sender, "reconcile", None)
        if reconcile is None or not self._in_doubt:
            return
        for item, key, since in self._in_doubt[:MAX_RECONCILED]:
            try:
                found = await reconcile(item, since)
            except Exception as exc:  # best effort: the send stays in doubt, as it was
                self.log.warning("Could not look up the send to %s at the service: %s", item.recipient, exc)
                continue
            if found is not None:
                self.log.info(
                    "The send to %s whose answer was lost was accepted: %s", item.recipient, found.message_id
                )
                self._record(key, EntryState.ACCEPTED, found.message_id)
                self.report.add_reconciled(found)
        if len(self._in_doubt) > MAX_RECONCILED:
            self.log.warning("%d sends in doubt were not looked up (at most %d are)", len(self._in_doubt) - MAX_RECONCILED,
                             MAX_RECONCILED)  # fmt: skip

    async def _send(self, item: PreparedSend[P], key: str | None) -> None:
        started = time.time()
        task = asyncio.current_task()
        assert task is not None

        async def attempt() -> SendResult:
            await self.pacer.wait(item.recipient)
            if self._stop is not None:
                raise _Withdrawn
            self._between_requests.discard(task)  # from here the request may leave: a stop waits
            try:
                self.report.requests += 1
                return await self.sender.send(item)
            finally:
                self._between_requests.add(task)

        def wait(attempt_number: int, exc: TransientError) -> float:
            backoff = self.retry_policy.delay(attempt_number, exc.retry_after)
            if not isinstance(exc, RateLimitedError):
                return backoff
            self.report.rate_limited += 1
            if exc.scope is Scope.RECIPIENT:  # only this recipient waits; the others go on
                return min(
                    max(backoff, self.pacer.recipient_interval * 2**attempt_number), RECIPIENT_WAIT_CAP
                )
            self.pacer.slow_down(exc.retry_after)  # every sender pauses; the next slot comes after it
            return 0.0

        self._between_requests.add(task)
        try:
            try:
                result = await acall_with_retries(
                    attempt, self.retry_policy, f"send to {item.recipient}", wait
                )
            except asyncio.CancelledError:
                if task not in self._withdrawing:
                    raise
                task.uncancel()  # our own stop, which withdraws this send; not a cancellation
                raise _Withdrawn from None
        except _Withdrawn:
            self._record(key, EntryState.WITHDRAWN)
            self.report.not_attempted += 1
        except OutcomeUnknownError as exc:
            self.log.warning("Outcome unknown for %s (row %d): %s", item.recipient, item.row, exc)
            self._record(key, EntryState.UNKNOWN, code=exc.code)
            self.report.add_unknown(item.recipient)
            self._in_doubt.append((item, key, started))
        except MessagingError as exc:
            self.log.warning("Not sent to %s (row %d): %s", item.recipient, item.row, exc)
            self._record(key, EntryState.FAILED, code=exc.code)
            self.report.add_failed(item.recipient, exc)
            if exc.stops_batch and self._stop is None:
                self._stop = exc
        except BaseException:
            # a bug or a cancellation mid-request: the request may have left; never resend it
            self._record(key, EntryState.UNKNOWN)
            self.report.add_unknown(item.recipient)
            raise
        else:
            self._record(key, EntryState.ACCEPTED, result.message_id)
            self.report.add_accepted(result)
            if self.report.results is not None:  # a small send: say each one
                self.log.info("Sent to %s: %s (%s)", item.recipient, result.message_id, result.status)
        finally:
            self._between_requests.discard(task)
            self._withdrawing.discard(task)

    async def _progress(self, started: float) -> None:
        while True:
            await asyncio.sleep(self.progress_interval)
            self.log.info(self.progress_line(time.monotonic() - started))

    def progress_line(self, elapsed: float) -> str:
        r = self.report
        done = r.processed
        rate = (r.accepted + r.failed + r.unknown) / elapsed if elapsed > 0 else 0.0
        if self.total:
            remaining = max(self.total - done, 0)
            eta = f"ETA {remaining / rate:.0f} s" if rate > 0 else "ETA unknown"
            head = f"{done} of {self.total} rows ({100 * done / self.total:.1f} %)"
        else:
            head, eta = f"{done} rows", "ETA unknown"
        return (
            f"Sending: {head}; accepted {r.accepted}, already sent {r.already_sent}, invalid {r.invalid}, "
            f"failed {r.failed}, unknown {r.unknown}; {rate:.1f} msg/s, {eta}"
        )
