"""Errors users see, and the shape of each service's error table.

Every error says what went wrong and what to do. Two questions decide what a sender does next, and
each documented code answers both in its service's :class:`ErrorTable`:

- may a retry help? (``TransientError``: rate limits, 5xx, network) or not (``PermanentError``);
- does it concern only this recipient, or every further send (:class:`Scope`)? A permanent error of
  scope ``EVERY_SEND`` (bad credentials, a paused template, a locked account) stops a batch at once;
  a transient one of that scope (throughput exceeded) pauses every sender; a transient one of scope
  ``RECIPIENT`` (WhatsApp's pair rate limit) makes only that recipient wait.

The Airflow layer turns ``PermanentError`` and ``OutcomeUnknownError`` into ``AirflowFailException``.
The tables themselves are built with :mod:`airflow_provider_messaging.core.error_table`.
"""

from __future__ import annotations

import enum
from typing import Any


class Scope(str, enum.Enum):
    RECIPIENT = "recipient"  # only this recipient: the others go on
    EVERY_SEND = "every_send"  # every further send would meet it too


def sentence(text: object) -> str:
    """A service's text to put inside ours: without its own final full stop (no doubled ones)."""
    return str(text).strip().rstrip(".")


class MessagingError(Exception):
    """Base of every error this provider raises."""

    retryable = False
    default_scope = Scope.RECIPIENT

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        code: str | int | None = None,
        http_status: int | None = None,
        details: dict[str, Any] | None = None,
        scope: Scope | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.code = None if code is None else str(code)
        self.http_status = http_status
        self.details = details or {}
        self.scope = scope or self.default_scope

    @property
    def stops_batch(self) -> bool:
        """A refusal no retry can mend that every further send would meet too."""
        return not self.retryable and self.scope is Scope.EVERY_SEND


class PermanentError(MessagingError):
    """Retrying the same request cannot succeed; a person has to change something."""


class TransientError(MessagingError):
    """The service or network failed this time; the same request may succeed later."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ValidationError(PermanentError, ValueError):
    """Bad input, caught before any request: names the field, the value's problem and the fix."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        super().__init__(f"{field}: {problem}. {fix}")
        self.field = field
        self.problem = problem
        self.fix = fix


class ConfigurationError(PermanentError):
    """The Airflow connection is missing a value or holds a wrong one."""

    default_scope = Scope.EVERY_SEND


class AuthenticationError(PermanentError):
    """The service rejected the credentials."""

    default_scope = Scope.EVERY_SEND


class AccountError(PermanentError):
    """The account or the sending number may not send (locked, blocked, unpaid, not registered)."""

    default_scope = Scope.EVERY_SEND


class TemplateError(PermanentError):
    """A WhatsApp template is missing, not approved, paused, or its parameters do not match."""

    default_scope = Scope.EVERY_SEND


class RecipientError(PermanentError):
    """This recipient cannot get the message (not on WhatsApp, opted out, blocked)."""


class WindowClosedError(RecipientError):
    """The 24-hour customer service window is closed: only templates can be sent."""


class MessageNotFoundError(PermanentError):
    """The service does not know the message id."""


class DeliveryFailedError(PermanentError):
    """A message reached a failure state (failed, undelivered)."""


class RateLimitedError(TransientError):
    """The service asked us to slow down (HTTP 429 or a rate-limit code)."""

    default_scope = Scope.EVERY_SEND


class ServiceUnavailableError(TransientError):
    """The service answered with a 5xx or could not be reached."""


class OutcomeUnknownError(MessagingError):
    """A send request left this machine but no answer came back.

    The service may or may not have accepted it, so resending could message the recipient twice;
    nothing retries this automatically.
    """
