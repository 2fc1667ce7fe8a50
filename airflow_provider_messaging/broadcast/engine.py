"""The broadcast engine: one implementation of streaming, pacing, the ledger and the report.

Rows are read one at a time into a bounded queue, so memory stays flat however long the list.
``concurrency`` workers take rows, claim them in the ledger (claims and outcomes are written in
groups, one transaction per group, off the event loop), wait for a slot from the pacer and send.

What happens to a send:
- accepted: recorded with its message id;
- refused for this recipient (``PermanentError``): recorded ``failed`` with the code; the batch goes on;
- refused in a way that hits every send (credentials, configuration, template): the batch stops at
  once, after the sends already under way have finished and been recorded;
- rate limited (429 or a rate-limit code): every sender pauses for ``Retry-After`` and the rate drops,
  then the same request is tried again; 5xx before acceptance: backoff, then again;
- sent but no answer (``OutcomeUnknownError``): recorded ``unknown`` and never resent automatically.

The engine imports no Airflow: service faces (``operators/broadcast.py``) give it ``prepare`` (row to
validated send, or ``ValidationError``) and ``send`` (one request, no retries of its own).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..core.errors import (
    HITS_EVERY_SEND,
    MessagingError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    TransientError,
    ValidationError,
)
from ..core.pacing import Pacer
from ..core.retry import RetryPolicy
from ..tracking.ledger import ACCEPTED, ALREADY_SENT, FAILED, SEND, UNKNOWN, Decision, Outcome, SendLedger
from .report import BroadcastReport
from .rows import Row

P = TypeVar("P")
log = logging.getLogger("airflow_provider_messaging.broadcast")

PAIR_RATE_LIMIT = "131056"  # WhatsApp: too many messages to this one user; only that user waits


@dataclass(frozen=True)
class PreparedSend(Generic[P]):
    row: int
    recipient: str
    content: Any  # JSON-able description of what is sent, for the ledger key
    payload: P  # what ``send`` needs


class BroadcastStopped(Exception):
    """An error that would hit every send stopped the batch; ``report`` says what had been done."""

    def __init__(self, cause: MessagingError, report: BroadcastReport) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.report = report


class _GroupCommit:
    """Collects items from many workers and writes them in one call per group, off the event loop.

    ``write`` gets the group's items and returns one result per item, in order. ``inline`` runs it
    on the event loop: right for SQLite (a local write takes well under a millisecond, and a thread
    hop per group costs more than it saves: measured, a third of the throughput), wrong for a
    database across the network (PostgreSQL), which goes to a thread so sends continue meanwhile.
    """

    def __init__(
        self, write: Callable[[list[Any]], list[Any]], *, inline: bool, max_group: int = 500
    ) -> None:
        self._write = write
        self._inline = inline
        self._max_group = max_group
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self._runner: asyncio.Task[None] | None = None

    def submit(self, item: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain())
        return future

    async def _drain(self) -> None:
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
            await self._runner


class BroadcastEngine(Generic[P]):
    def __init__(
        self,
        *,
        prepare: Callable[[Row], PreparedSend[P]],
        send: Callable[[PreparedSend[P]], Awaitable[str]],
        key_for: Callable[[PreparedSend[P]], str] | None = None,
        ledger: SendLedger | None = None,
        pacer: Pacer | None = None,
        concurrency: int = 16,
        retry_policy: RetryPolicy | None = None,
        total: int | None = None,
        progress_interval: float = 10.0,
        to_column: str = "to",
        logger: logging.Logger | Any = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.prepare, self.send, self.key_for = prepare, send, key_for
        self.ledger = ledger
        self.pacer = pacer or Pacer(None)
        self.concurrency = concurrency
        self.retry_policy = retry_policy or RetryPolicy(max_attempts=6)
        self.total = total
        self.progress_interval = progress_interval
        self.to_column = to_column
        self.log = logger or log
        self.report = BroadcastReport()
        self._stop: MessagingError | None = None
        inline = ledger is not None and ledger.store.engine.dialect.name == "sqlite"
        self._claims = _GroupCommit(self._claim_group, inline=inline)
        self._outcomes = _GroupCommit(self._record_group, inline=inline)

    # -- ledger --------------------------------------------------------------------------

    def _claim_group(self, items: list[tuple[str, str]]) -> list[Decision]:
        assert self.ledger is not None
        decisions = self.ledger.claim(items)
        results, seen = [], set()
        for key, _ in items:
            # the same row twice in one group: the first is sent, the copy counts as already sent
            results.append(decisions[key] if key not in seen else Decision(ALREADY_SENT))
            seen.add(key)
        return results

    def _record_group(self, outcomes: list[Outcome]) -> list[None]:
        assert self.ledger is not None
        self.ledger.record(outcomes)
        return [None] * len(outcomes)

    async def _claim(self, item: PreparedSend[P]) -> tuple[str | None, Decision]:
        if self.ledger is None or self.key_for is None:
            return None, Decision(SEND)
        key = self.key_for(item)
        return key, await self._claims.submit((key, item.recipient))

    def _record(
        self, key: str | None, state: str, message_id: str | None = None, code: str | None = None
    ) -> None:
        if key is not None and self.ledger is not None:
            self._outcomes.submit(Outcome(key, state, message_id, code))

    # -- the run -------------------------------------------------------------------------

    async def run(self, rows: Iterable[Row]) -> BroadcastReport:
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
            await self._claims.flush()
            await self._outcomes.flush()
            self.report.elapsed = time.monotonic() - started
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if self._stop is not None:
            raise BroadcastStopped(self._stop, self.report)
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
            if decision.action == ALREADY_SENT:
                self.report.add_already_sent(decision.message_id)
            elif decision.action == SEND:
                await self._send(item, key)
            else:
                self.log.warning(
                    "Not sending to %s (row %d): an earlier try's request may have reached the service "
                    "(on_unknown='resend' sends anyway)",
                    item.recipient,
                    item.row,
                )
                self.report.add_unknown(item.recipient)

    async def _send(self, item: PreparedSend[P], key: str | None) -> None:
        attempt = 0
        while True:
            attempt += 1
            await self.pacer.wait(item.recipient)
            self.report.requests += 1
            try:
                message_id = await self.send(item)
            except RateLimitedError as exc:
                self.report.rate_limited += 1
                if attempt < self.retry_policy.max_attempts:
                    if exc.code == PAIR_RATE_LIMIT:
                        await asyncio.sleep(
                            max(self.retry_policy.delay(attempt, exc.retry_after), min(4.0**attempt, 60.0))
                        )
                    else:
                        self.pacer.slow_down(exc.retry_after)
                    continue
                self._failed(item, key, exc, retryable=True)
            except TransientError as exc:
                if attempt < self.retry_policy.max_attempts:
                    await asyncio.sleep(self.retry_policy.delay(attempt, exc.retry_after))
                    continue
                self._failed(item, key, exc, retryable=True)
            except OutcomeUnknownError as exc:
                self.log.warning("Outcome unknown for %s (row %d): %s", item.recipient, item.row, exc)
                self._record(key, UNKNOWN, code=exc.code)
                self.report.add_unknown(item.recipient)
            except HITS_EVERY_SEND as exc:
                self._failed(item, key, exc, retryable=False)
                if self._stop is None:
                    self._stop = exc
            except PermanentError as exc:
                self._failed(item, key, exc, retryable=False)
            except BaseException:
                # a bug or a cancellation mid-request: the request may have left; never resend it
                self._record(key, UNKNOWN)
                self.report.add_unknown(item.recipient)
                raise
            else:
                self._record(key, ACCEPTED, message_id)
                self.report.add_accepted(message_id)
            return

    def _failed(self, item: PreparedSend[P], key: str | None, exc: MessagingError, retryable: bool) -> None:
        self.log.warning("Not sent to %s (row %d): %s", item.recipient, item.row, exc)
        self._record(key, FAILED, code=exc.code)
        self.report.add_failed(item.recipient, exc.code, str(exc), retryable)

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
            f"Broadcast: {head}; accepted {r.accepted}, already sent {r.already_sent}, invalid {r.invalid}, "
            f"failed {r.failed}, unknown {r.unknown}; {rate:.1f} msg/s, {eta}"
        )
