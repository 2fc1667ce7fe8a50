"""When and how long to wait before trying a request again: one policy and one loop for every caller.

A ``TransientError`` is retried with exponential backoff and jitter; a ``Retry-After`` the service
sent wins over the backoff. Everything else is raised at once: retrying a rejected request only
repeats the rejection. The clients use it for reads; the send engine uses it for sends, with its
own wait (a rate limit pauses every sender through the pacer instead of sleeping).
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import TransientError

log = logging.getLogger("airflow_provider_messaging.retry")

T = TypeVar("T")
Wait = Callable[[int, TransientError], float]  # (failed attempt number, its error) -> seconds


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 300.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        backoff = min(self.initial_backoff * 2 ** (attempt - 1), self.max_backoff)
        return backoff * (0.5 + random.random() / 2)

    def wait_after(self, attempt: int, exc: TransientError, what: str, wait: Wait | None = None) -> float:
        """How long to wait after ``exc`` ended attempt ``attempt``; raises it when none is left."""
        if attempt >= self.max_attempts:
            raise exc
        seconds = wait(attempt, exc) if wait is not None else self.delay(attempt, exc.retry_after)
        log.info(
            "%s failed (attempt %d of %d): %s; retrying in %.2f s",
            what,
            attempt,
            self.max_attempts,
            exc,
            seconds,
        )
        return seconds


NO_RETRIES = RetryPolicy(max_attempts=1)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, what: str) -> T:
    for attempt in itertools.count(1):
        try:
            return fn()
        except TransientError as exc:
            time.sleep(policy.wait_after(attempt, exc, what))
    raise AssertionError("unreachable")  # pragma: no cover


async def acall_with_retries(
    fn: Callable[[], Awaitable[T]], policy: RetryPolicy, what: str, wait: Wait | None = None
) -> T:
    for attempt in itertools.count(1):
        try:
            return await fn()
        except TransientError as exc:
            seconds = policy.wait_after(attempt, exc, what, wait)
            if seconds > 0:
                await asyncio.sleep(seconds)
    raise AssertionError("unreachable")  # pragma: no cover
