"""Errors users see, built from the services' own error payloads.

Every error says what went wrong and what to do. ``PermanentError`` means retrying the task cannot
help (bad credentials, a rejected number, invalid input); the Airflow layer turns it into
``AirflowFailException``. ``TransientError`` means a later attempt may succeed (rate limits, 5xx,
network); clients retry those themselves before giving up.
"""

from __future__ import annotations

from typing import Any


class MessagingError(Exception):
    """Base of every error this provider raises."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        service: str | None = None,
        code: str | int | None = None,
        http_status: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.code = None if code is None else str(code)
        self.http_status = http_status
        self.details = details or {}


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


class AuthenticationError(PermanentError):
    """The service rejected the credentials."""


class RateLimitedError(TransientError):
    """The service asked us to slow down (HTTP 429 or a rate-limit code)."""


class ServiceUnavailableError(TransientError):
    """The service answered with a 5xx or could not be reached."""


class OutcomeUnknownError(MessagingError):
    """A send request left this machine but no answer came back.

    The service may or may not have accepted it, so resending could message the recipient twice;
    nothing retries this automatically.
    """


class MessageNotFoundError(PermanentError):
    """The service does not know the message id."""


class DeliveryFailedError(PermanentError):
    """A message reached a failure state (failed, undelivered)."""


class TemplateError(PermanentError):
    """A WhatsApp template is missing, not approved, paused, or its parameters do not match."""


class WindowClosedError(PermanentError):
    """The 24-hour customer service window is closed: only templates can be sent."""


class RecipientError(PermanentError):
    """This recipient cannot get the message (not on WhatsApp, opted out, blocked)."""


# Refusals that would hit every further send too (credentials, configuration, the template):
# a loop over recipients stops at once instead of repeating them.
HITS_EVERY_SEND = (AuthenticationError, ConfigurationError, TemplateError)
