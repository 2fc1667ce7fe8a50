from __future__ import annotations

import pytest

from airflow_provider_messaging.core.errors import PermanentError, TransientError
from airflow_provider_messaging.core.retry import (
    RetryPolicy,
    acall_with_retries,
    call_with_retries,
    parse_retry_after,
)


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_backoff_grows_and_is_capped_and_retry_after_wins():
    policy = RetryPolicy(initial_backoff=1.0, max_backoff=4.0, max_retry_after=60.0)
    assert 0.5 <= policy.delay(1, None) <= 1.0
    assert 2.0 <= policy.delay(4, None) <= 4.0
    assert policy.delay(1, 12.0) == 12.0
    assert policy.delay(1, 9999.0) == 60.0


def test_transient_errors_are_retried_until_the_limit(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    calls = []

    def flaky():
        calls.append(1)
        raise TransientError("busy", retry_after=0)

    with pytest.raises(TransientError):
        call_with_retries(flaky, RetryPolicy(max_attempts=4), "test")
    assert len(calls) == 4


def test_permanent_errors_are_raised_at_once():
    calls = []

    def bad():
        calls.append(1)
        raise PermanentError("no")

    with pytest.raises(PermanentError):
        call_with_retries(bad, RetryPolicy(max_attempts=4), "test")
    assert len(calls) == 1


async def test_async_retries_then_succeeds():
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("busy", retry_after=0)
        return "ok"

    assert await acall_with_retries(flaky, RetryPolicy(max_attempts=5), "test") == "ok"
    assert len(calls) == 3
