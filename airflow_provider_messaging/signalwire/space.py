"""What SignalWire's two REST APIs on a Space share: authentication, and how a failed answer reads.

The Compatibility API (``/api/laml``) and the native Messaging API (``/api/messaging``) use the
same host and HTTP Basic credentials and fail the same ways at the HTTP level (401, 429, 5xx);
they differ in the error body, which each subclass reads (:meth:`SpaceApi.read_error`). Retry
rule for both: a GET is retried on 429, 5xx and network errors. A POST (which creates a message)
is retried only when the service certainly did not act on it: 429, 503, or a connection that
never opened. Any other failure after the request left raises ``OutcomeUnknownError`` so a
recipient is never messaged twice by accident.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, Generic, TypeVar

import httpx

from ..core.errors import (
    AuthenticationError,
    ConfigurationError,
    MessageNotFoundError,
    MessagingError,
    OutcomeUnknownError,
    RateLimitedError,
    ServiceUnavailableError,
    sentence,
)
from ..core.http import USER_AGENT, AsyncSession, Call, Page, Session, request_never_left
from ..core.retry import RetryPolicy, parse_retry_after
from .credentials import SignalWireCredentials
from .errors import SIGNALWIRE_ERRORS

DEFAULT_TIMEOUT = 30.0
T = TypeVar("T")
A = TypeVar("A", bound="SpaceApi")


def error_payload(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"message": response.text[:200]}
    return data if isinstance(data, dict) else {"message": str(data)[:200]}


def outcome_unknown(exc: Exception, action: str) -> OutcomeUnknownError:
    return OutcomeUnknownError(
        f"The request to {action} reached SignalWire but no usable answer came back ({exc}). "
        "The message may or may not have been sent; it was not resent to avoid a duplicate. "
        "Check the SignalWire message log before sending again.",
        service="signalwire",
    )


class SpaceApi:
    """Requests and answers of one SignalWire REST API for one project: no I/O here."""

    label = "SignalWire"
    not_found_hint = ""  # what else an unknown message id may mean on this API

    def __init__(self, credentials: SignalWireCredentials) -> None:
        self.credentials = credentials

    def client_options(self) -> dict[str, Any]:
        return {
            "base_url": self.credentials.http_base,
            "auth": (self.credentials.project_id, self.credentials.api_token),
            "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        }

    def read_error(self, payload: dict[str, Any]) -> tuple[str | None, str | None]:
        """The error code and the service's text in a failed answer's body."""
        raise NotImplementedError

    def unknown_message(self, code: str | None) -> bool:
        """A 404 while fetching a message means the message is unknown (not a wrong Space)."""
        return True

    def error_for(self, response: httpx.Response, action: str) -> MessagingError:
        """Turn a non-2xx answer into the error a user can act on."""
        status = response.status_code
        payload = error_payload(response)
        code, text = self.read_error(payload)
        text = sentence(text or response.reason_phrase)
        common: dict[str, Any] = {"code": code, "http_status": status, "details": payload}
        where = f"{self.credentials.source} (space {self.credentials.http_base}, project {self.credentials.project_id})"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 401:
            return AuthenticationError(
                f"SignalWire rejected the credentials while trying to {action} (HTTP 401, code {code or 20003}: "
                f"{text}). Check the Project ID (login) and API Token (password) of {where}, "
                "and that the token has the Messaging scope.",
                service="signalwire", **common,
            )  # fmt: skip
        if status == 429:
            return RateLimitedError(
                f"SignalWire rate-limited the request to {action} (HTTP 429, code {code or 20429}: {text}).",
                retry_after=retry_after, service="signalwire", **common,
            )  # fmt: skip
        if status >= 500:
            return ServiceUnavailableError(
                f"SignalWire failed to {action} (HTTP {status}: {text}).",
                retry_after=retry_after, service="signalwire", **common,
            )  # fmt: skip
        if status == 404 and action.startswith("fetch message") and self.unknown_message(code):
            return MessageNotFoundError(
                f"SignalWire does not know the message ({action}): {text}.{self.not_found_hint}",
                service="signalwire",
                **common,
            )
        if status == 404:
            return ConfigurationError(
                f"SignalWire answered 404 while trying to {action}: {text}. Check the Space URL (host) and "
                f"Project ID (login) of {where}.",
                service="signalwire", **common,
            )  # fmt: skip
        common.pop("code")
        return SIGNALWIRE_ERRORS.error(
            code,
            f"SignalWire refused to {action} (HTTP {status}): {text}. {SIGNALWIRE_ERRORS.describe(code)}.",
            **common,
        )

    def check(self, response: httpx.Response, call: Call[Any]) -> None:
        if response.is_success:
            return
        error = self.error_for(response, call.action)
        if call.method == "POST" and response.status_code >= 500 and response.status_code != 503:
            raise outcome_unknown(error, call.action)
        raise error

    def transport_error(self, exc: httpx.HTTPError, call: Call[Any]) -> MessagingError:
        if call.method == "POST" and not request_never_left(exc):
            return outcome_unknown(exc, call.action)
        return ServiceUnavailableError(
            f"Could not reach SignalWire at {self.credentials.http_base} to {call.action}: "
            f"{exc.__class__.__name__}: {sentence(exc)}. Check the Space URL (host) or base URL of "
            f"{self.credentials.source} and the network.",
            service="signalwire",
        )


def space_path(url: str) -> str:
    """A link the service returned (absolute, or a path on the Space), as a path to follow."""
    from urllib.parse import urlsplit

    return urlsplit(url)._replace(scheme="", netloc="").geturl()


class SpaceClient(Generic[A]):
    """Blocking client of one of the APIs; one connection pool reused for every call. Close it or
    use ``with``. Subclasses add a method per request."""

    def __init__(
        self,
        api: A,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api = api
        self.session = Session(api, retry_policy or RetryPolicy(), timeout=timeout, transport=transport)

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def items(self, first: Call[Page[T]], limit: int | None) -> Iterator[T]:
        """Every item of a listing, following its pages until ``limit`` items or the last page."""
        for seen, item in enumerate(self.session.pages(first), start=1):
            yield item
            if limit is not None and seen >= limit:
                return


class AsyncSpaceClient(Generic[A]):
    """Non-blocking twin of :class:`SpaceClient` for triggers, senders and async notifiers."""

    def __init__(
        self,
        api: A,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        self.api = api
        self.session = AsyncSession(api, retry_policy or RetryPolicy(), timeout=timeout, transport=transport,
                                    max_connections=max_connections)  # fmt: skip

    async def __aenter__(self: T) -> T:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.session.aclose()

    async def items(self, first: Call[Page[T]], limit: int | None) -> AsyncIterator[T]:
        seen = 0
        async for item in self.session.pages(first):
            yield item
            seen += 1
            if limit is not None and seen >= limit:
                return
