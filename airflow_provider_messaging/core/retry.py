"""When and how long to wait before trying a request again (one policy for every client).

Built on tenacity (shipped with Airflow). A ``TransientError`` is retried with exponential backoff
and jitter; a ``Retry-After`` the service sent wins over the backoff. Everything else is raised at
once: retrying a rejected request only repeats the rejection.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import TransientError

log = logging.getLogger("airflow_provider_messaging.retry")

T = TypeVar("T")


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


def _tenacity_kwargs(policy: RetryPolicy, what: str) -> dict[str, Any]:
    from tenacity import retry_if_exception_type, stop_after_attempt

    def wait(retry_state: Any) -> float:
        exc = retry_state.outcome.exception()
        return policy.delay(retry_state.attempt_number, getattr(exc, "retry_after", None))

    def before_sleep(retry_state: Any) -> None:
        exc = retry_state.outcome.exception()
        log.warning(
            "%s failed (attempt %d of %d): %s; retrying in %.2f s",
            what,
            retry_state.attempt_number,
            policy.max_attempts,
            exc,
            retry_state.upcoming_sleep,
        )

    return {
        "stop": stop_after_attempt(policy.max_attempts),
        "wait": wait,
        "retry": retry_if_exception_type(TransientError),
        "before_sleep": before_sleep,
        "reraise": True,
    }


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, what: str) -> T:
    if policy.max_attempts <= 1:  # the caller retries itself (broadcasts): skip the machinery
        return fn()
    from tenacity import Retrying

    return Retrying(sleep=lambda seconds: time.sleep(seconds), **_tenacity_kwargs(policy, what))(fn)


async def acall_with_retries(fn: Callable[[], Awaitable[T]], policy: RetryPolicy, what: str) -> T:
    if policy.max_attempts <= 1:
        return await fn()
    from tenacity import AsyncRetrying

    async for attempt in AsyncRetrying(**_tenacity_kwargs(policy, what)):
        with attempt:
            return await fn()
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover
