"""How this provider's errors end an Airflow task.

A ``PermanentError`` (bad input, bad credentials, a rejected recipient) or an unknown send outcome
becomes ``AirflowFailException``: the task fails without retries, because a retry cannot help or
could message someone twice. Everything else stays retryable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .core.errors import OutcomeUnknownError, PermanentError


@contextmanager
def fail_permanently_on_permanent_errors() -> Iterator[None]:
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except (PermanentError, OutcomeUnknownError) as exc:
        raise AirflowFailException(str(exc)) from exc
