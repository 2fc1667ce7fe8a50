"""SignalWire's Compatibility (LaML) Messages API over httpx, sync and async.

:class:`CompatibilityApi` builds every request and reads every answer; the two clients only send
them. Retry rule: a GET is retried on 429, 5xx and network errors. A POST (which creates a message)
is retried only when the service certainly did not act on it: 429, 503, or a connection that never
opened. Any other failure after the request left raises ``OutcomeUnknownError`` so a recipient is
never messaged twice by accident.
"""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from ..core.delivery import Observation
from ..core.engine import SendResult
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
from ..core.states import MessageState
from .credentials import SignalWireCredentials
from .errors import SIGNALWIRE_ERRORS
from .statuses import state_of

API_PATH = "/api/laml/2010-04-01"
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SignalWireMessage:
    """A Compatibility API message resource."""

    sid: str
    status: str
    to: str | None
    from_number: str | None
    body: str | None = None
    direction: str | None = None
    num_segments: int | None = None
    num_media: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    date_created: str | None = None
    date_sent: str | None = None
    date_updated: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def state(self) -> MessageState:
        return state_of(self.status)

    def observation(self) -> Observation:
        """This message as the delivery gate sees it."""
        return Observation(
            message_id=self.sid,
            state=self.state,
            status=self.status,
            recipient=self.to,
            error_code=self.error_code,
            error_message=self.error_message,
            error_meaning=SIGNALWIRE_ERRORS.describe(self.error_code) if self.error_code else None,
        )

    @property
    def created_at(self) -> float | None:
        """``date_created`` (RFC 2822) as epoch seconds."""
        try:
            return email.utils.parsedate_to_datetime(self.date_created or "").timestamp()
        except (TypeError, ValueError):
            return None

    def as_send_result(self) -> SendResult:
        return SendResult(
            self.sid,
            self.to or "",
            self.status,
            {"from": self.from_number, "num_segments": self.num_segments},
        )


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def parse_message(data: dict[str, Any]) -> SignalWireMessage:
    code = data.get("error_code")
    return SignalWireMessage(
        sid=str(data["sid"]),
        status=str(data.get("status") or ""),
        to=data.get("to"),
        from_number=data.get("from"),
        body=data.get("body"),
        direction=data.get("direction"),
        num_segments=_int_or_none(data.get("num_segments")),
        num_media=_int_or_none(data.get("num_media")),
        error_code=None if code in (None, "") else str(code),
        error_message=data.get("error_message"),
        date_created=data.get("date_created"),
        date_sent=data.get("date_sent"),
        date_updated=data.get("date_updated"),
        raw=data,
    )


def build_create_form(
    to: str,
    from_number: str,
    body: str | None = None,
    media_urls: Sequence[str] = (),
    status_callback: str | None = None,
) -> list[tuple[str, str]]:
    """Form fields for a create request; ``MediaUrl`` is repeated once per URL."""
    form = [("To", to), ("From", from_number)]
    if body is not None:
        form.append(("Body", body))
    form.extend(("MediaUrl", url) for url in media_urls)
    if status_callback:
        form.append(("StatusCallback", status_callback))
    return form


def _error_payload(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"message": response.text[:200]}
    return data if isinstance(data, dict) else {"message": str(data)[:200]}


def _one_message(response: httpx.Response) -> SignalWireMessage:
    return parse_message(response.json())


class CompatibilityApi:
    """Requests and answers of the Compatibility Messages API for one project: no I/O here."""

    label = "SignalWire"

    def __init__(self, credentials: SignalWireCredentials) -> None:
        self.credentials = credentials
        self.messages_path = f"{API_PATH}/Accounts/{credentials.project_id}/Messages"

    def client_options(self) -> dict[str, Any]:
        return {
            "base_url": self.credentials.http_base,
            "auth": (self.credentials.project_id, self.credentials.api_token),
            "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        }

    # -- requests ----------------------------------------------------------------------------

    def create_message(
        self,
        to: str,
        from_number: str,
        body: str | None = None,
        media_urls: Sequence[str] = (),
        status_callback: str | None = None,
    ) -> Call[SignalWireMessage]:
        form = build_create_form(to, from_number, body, media_urls, status_callback)
        options = {
            "content": urlencode(form).encode(),  # keeps field order and repeated MediaUrl fields
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        }
        return Call("POST", f"{self.messages_path}.json", f"send a message to {to}", _one_message, options)

    def fetch_message(self, sid: str) -> Call[SignalWireMessage]:
        return Call("GET", f"{self.messages_path}/{sid}.json", f"fetch message {sid}", _one_message)

    def list_messages(
        self,
        *,
        to: str | None = None,
        from_number: str | None = None,
        status: str | None = None,
        sent_after: str | None = None,
        page_size: int = 50,
    ) -> Call[Page[SignalWireMessage]]:
        """Newest first; ``sent_after`` is a UTC day, ``YYYY-MM-DD`` (the API filters by day)."""
        params: dict[str, Any] = {"PageSize": page_size}
        for key, value in (("To", to), ("From", from_number), ("Status", status), ("DateSent>", sent_after)):
            if value:
                params[key] = value
        return self._page(f"{self.messages_path}.json", {"params": params})

    def _page(self, path: str, options: dict[str, Any]) -> Call[Page[SignalWireMessage]]:
        def parse(response: httpx.Response) -> Page[SignalWireMessage]:
            data = response.json()
            next_uri = data.get("next_page_uri")
            # next_page_uri is a path on the Space (query included); follow it as it is
            follow = (
                self._page(urlsplit(next_uri)._replace(scheme="", netloc="").geturl(), {})
                if next_uri
                else None
            )
            return Page([parse_message(item) for item in data.get("messages") or []], follow)

        return Call("GET", path, "list messages", parse, options)

    # -- answers ------------------------------------------------------------------------------

    def error_for(self, response: httpx.Response, action: str) -> MessagingError:
        """Turn a non-2xx answer into the error a user can act on."""
        status = response.status_code
        payload = _error_payload(response)
        code = payload.get("code")
        text = sentence(payload.get("message") or response.reason_phrase)
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
        if status == 404 and str(code) == "20404" and action.startswith("fetch message"):
            return MessageNotFoundError(
                f"SignalWire does not know the message ({action}): {text}.", service="signalwire", **common
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
            raise _outcome_unknown(error, call.action)
        raise error

    def transport_error(self, exc: httpx.HTTPError, call: Call[Any]) -> MessagingError:
        if call.method == "POST" and not request_never_left(exc):
            return _outcome_unknown(exc, call.action)
        return ServiceUnavailableError(
            f"Could not reach SignalWire at {self.credentials.http_base} to {call.action}: "
            f"{exc.__class__.__name__}: {sentence(exc)}. Check the Space URL (host) or base URL of "
            f"{self.credentials.source} and the network.",
            service="signalwire",
        )


def _outcome_unknown(exc: Exception, action: str) -> OutcomeUnknownError:
    return OutcomeUnknownError(
        f"The request to {action} reached SignalWire but no usable answer came back ({exc}). "
        "The message may or may not have been sent; it was not resent to avoid a duplicate. "
        "Check the SignalWire message log before sending again.",
        service="signalwire",
    )


class SignalWireRestClient:
    """Blocking client; one connection pool reused for every call. Close it or use ``with``."""

    def __init__(
        self,
        credentials: SignalWireCredentials,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api = CompatibilityApi(credentials)
        self.session = Session(self.api, retry_policy or RetryPolicy(), timeout=timeout, transport=transport)

    def __enter__(self) -> SignalWireRestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def create_message(self, to: str, from_number: str, body: str | None = None, media_urls: Sequence[str] = (),
                       status_callback: str | None = None) -> SignalWireMessage:  # fmt: skip
        return self.session(self.api.create_message(to, from_number, body, media_urls, status_callback))

    def fetch_message(self, sid: str) -> SignalWireMessage:
        return self.session(self.api.fetch_message(sid))

    def list_messages(self, *, limit: int | None = None, **filters: Any) -> Iterator[SignalWireMessage]:
        """Messages, newest first, following ``next_page_uri`` until ``limit`` or the last page;
        ``filters``: ``to``, ``from_number``, ``status``, ``sent_after``, ``page_size``."""
        for seen, message in enumerate(self.session.pages(self.api.list_messages(**filters)), start=1):
            yield message
            if limit is not None and seen >= limit:
                return


class AsyncSignalWireRestClient:
    """Non-blocking twin of :class:`SignalWireRestClient` for triggers, senders and async notifiers."""

    def __init__(
        self,
        credentials: SignalWireCredentials,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        self.api = CompatibilityApi(credentials)
        self.session = AsyncSession(self.api, retry_policy or RetryPolicy(), timeout=timeout, transport=transport,
                                    max_connections=max_connections)  # fmt: skip

    async def __aenter__(self) -> AsyncSignalWireRestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.session.aclose()

    async def create_message(self, to: str, from_number: str, body: str | None = None, media_urls: Sequence[str] = (),
                             status_callback: str | None = None) -> SignalWireMessage:  # fmt: skip
        return await self.session(self.api.create_message(to, from_number, body, media_urls, status_callback))

    async def fetch_message(self, sid: str) -> SignalWireMessage:
        return await self.session(self.api.fetch_message(sid))

    async def list_messages(
        self, *, limit: int | None = None, **filters: Any
    ) -> AsyncIterator[SignalWireMessage]:
        seen = 0
        async for message in self.session.pages(self.api.list_messages(**filters)):
            yield message
            seen += 1
            if limit is not None and seen >= limit:
                return
