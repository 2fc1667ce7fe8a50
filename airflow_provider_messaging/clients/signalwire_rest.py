"""SignalWire Compatibility (LaML) Messages API over httpx, sync and async.

Both clients share the request building, response parsing and error mapping below; they differ
only in how bytes are sent. Retry rule: a GET is retried on 429, 5xx and network errors. A POST
(which creates a message) is retried only when the service certainly did not act on it: 429, 503,
or a connection that never opened. Any other failure after the request left raises
``OutcomeUnknownError`` so a recipient is never messaged twice by accident.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx

from ..core.delivery import Observation
from ..core.errors import (
    AuthenticationError,
    ConfigurationError,
    MessageNotFoundError,
    MessagingError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    ServiceUnavailableError,
)
from ..core.retry import RetryPolicy, parse_retry_after
from ..core.signalwire_codes import describe_signalwire_code
from ..core.states import MessageState, from_signalwire
from .http_retrying import AsyncRetryingHttp, RetryingHttp, request_never_left

API_PATH = "/api/laml/2010-04-01"
USER_AGENT = "airflow-provider-messaging"
DEFAULT_TIMEOUT = 30.0


def space_base_url(space_url: str) -> str:
    """``https://example.signalwire.com`` from a Space URL, host name or bare space name."""
    text = space_url.strip().rstrip("/")
    if not text:
        raise ConfigurationError(
            "The SignalWire Space URL (connection host) is empty: set it to e.g. 'example.signalwire.com'"
        )
    if "://" not in text:
        if "." not in text:
            text = f"{text}.signalwire.com"
        text = f"https://{text}"
    return text


@dataclass(frozen=True)
class SignalWireCredentials:
    """What the REST and Relay clients need. ``base_url`` overrides the Space (e.g. the sandbox)."""

    project_id: str
    api_token: str = field(repr=False)
    space_url: str = ""
    base_url: str | None = None

    @property
    def http_base(self) -> str:
        return (self.base_url or space_base_url(self.space_url)).rstrip("/")

    @property
    def account_path(self) -> str:
        return f"{API_PATH}/Accounts/{self.project_id}"


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
        return from_signalwire(self.status)

    def observation(self) -> Observation:
        """This message as the delivery gate sees it."""
        return Observation(
            message_id=self.sid,
            state=self.state,
            status=self.status,
            recipient=self.to,
            error_code=self.error_code,
            error_message=self.error_message,
            error_meaning=describe_signalwire_code(self.error_code) if self.error_code else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary for XCom and logs."""
        return {
            "sid": self.sid,
            "to": self.to,
            "from": self.from_number,
            "status": self.status,
            "state": self.state.value,
            "num_segments": self.num_segments,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


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


def _form_body(form: list[tuple[str, str]]) -> dict[str, Any]:
    """Request kwargs for a form body that keeps field order and repeated ``MediaUrl`` fields."""
    return {
        "content": urlencode(form).encode(),
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    }


def _error_payload(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"message": response.text[:200]}
    return data if isinstance(data, dict) else {"message": str(data)[:200]}


def error_from_response(
    response: httpx.Response, action: str, credentials: SignalWireCredentials
) -> MessagingError:
    """Turn a non-2xx answer into the error a user can act on."""
    status = response.status_code
    payload = _error_payload(response)
    code = payload.get("code")
    text = payload.get("message") or response.reason_phrase
    common: dict[str, Any] = {
        "service": "signalwire",
        "code": code,
        "http_status": status,
        "details": payload,
    }
    where = f"space {credentials.http_base}, project {credentials.project_id}"
    if status == 401:
        return AuthenticationError(
            f"SignalWire rejected the credentials while trying to {action} (HTTP 401, code {code or 20003}: "
            f"{text}). Check the connection's Project ID (login) and API Token (password) for {where}, "
            "and that the token has the Messaging scope.",
            **common,
        )
    if status == 429:
        return RateLimitedError(
            f"SignalWire rate-limited the request to {action} (HTTP 429, code {code or 20429}: {text}).",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            **common,
        )
    if status >= 500:
        return ServiceUnavailableError(
            f"SignalWire failed to {action} (HTTP {status}: {text}).",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            **common,
        )
    if status == 404 and str(code) == "20404" and action.startswith("fetch message"):
        return MessageNotFoundError(f"SignalWire does not know the message ({action}): {text}.", **common)
    if status == 404:
        return ConfigurationError(
            f"SignalWire answered 404 while trying to {action}: {text}. Check the Space URL (host) and "
            f"Project ID (login) of the connection ({where}).",
            **common,
        )
    return PermanentError(
        f"SignalWire refused to {action} (HTTP {status}): {text}. {describe_signalwire_code(code)}.", **common
    )


def _post_outcome_error(exc: httpx.HTTPError | MessagingError, action: str) -> OutcomeUnknownError:
    return OutcomeUnknownError(
        f"The request to {action} reached SignalWire but no usable answer came back ({exc}). "
        "The message may or may not have been sent; it was not resent to avoid a duplicate. "
        "Check the SignalWire message log before sending again.",
        service="signalwire",
    )


def _transport_error(exc: httpx.HTTPError, action: str, credentials: SignalWireCredentials) -> MessagingError:
    return ServiceUnavailableError(
        f"Could not reach SignalWire at {credentials.http_base} to {action}: {exc.__class__.__name__}: {exc}. "
        "Check the Space URL (host) or base URL of the connection and the network.",
        service="signalwire",
    )


def _check(response: httpx.Response, method: str, action: str, credentials: SignalWireCredentials) -> None:
    if response.is_success:
        return
    error = error_from_response(response, action, credentials)
    if method == "POST" and response.status_code >= 500 and response.status_code != 503:
        raise _post_outcome_error(error, action)
    raise error


def _map_transport(
    exc: httpx.HTTPError, method: str, action: str, credentials: SignalWireCredentials
) -> Exception:
    if method == "POST" and not request_never_left(exc):
        return _post_outcome_error(exc, action)
    return _transport_error(exc, action, credentials)


class _Base:
    def __init__(
        self, credentials: SignalWireCredentials, *, timeout: float, retry_policy: RetryPolicy | None
    ):
        if not credentials.project_id:
            raise ConfigurationError(
                "The SignalWire Project ID (connection login) is empty: copy it from the Dashboard's API page"
            )
        if not credentials.api_token:
            raise ConfigurationError(
                "The SignalWire API Token (connection password) is empty: create one in the Dashboard's API page"
            )
        self.credentials = credentials
        self.timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy()

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.credentials.http_base,
            "auth": (self.credentials.project_id, self.credentials.api_token),
            "timeout": self.timeout,
            "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        }

    def _check(self, response: httpx.Response, method: str, action: str) -> None:
        _check(response, method, action, self.credentials)

    def _map_transport(self, exc: httpx.HTTPError, method: str, action: str) -> Exception:
        return _map_transport(exc, method, action, self.credentials)

    def _messages_path(self, sid: str | None = None) -> str:
        if sid is None:
            return f"{self.credentials.account_path}/Messages.json"
        return f"{self.credentials.account_path}/Messages/{sid}.json"


def _list_params(
    to: str | None, from_number: str | None, status: str | None, page_size: int
) -> dict[str, Any]:
    params: dict[str, Any] = {"PageSize": page_size}
    for key, value in (("To", to), ("From", from_number), ("Status", status)):
        if value:
            params[key] = value
    return params


class SignalWireRestClient(_Base):
    """Blocking client; one connection pool reused for every call. Close it or use ``with``."""

    def __init__(
        self,
        credentials: SignalWireCredentials,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(credentials, timeout=timeout, retry_policy=retry_policy)
        self._http = RetryingHttp(
            httpx.Client(transport=transport, **self._client_kwargs()), self.retry_policy, "SignalWire",
            self._check, self._map_transport,
        )  # fmt: skip

    def __enter__(self) -> SignalWireRestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def create_message(
        self,
        to: str,
        from_number: str,
        body: str | None = None,
        media_urls: Sequence[str] = (),
        status_callback: str | None = None,
    ) -> SignalWireMessage:
        form = build_create_form(to, from_number, body, media_urls, status_callback)
        response = self._http.request(
            "POST", self._messages_path(), f"send a message to {to}", **_form_body(form)
        )
        return parse_message(response.json())

    def fetch_message(self, sid: str) -> SignalWireMessage:
        response = self._http.request("GET", self._messages_path(sid), f"fetch message {sid}")
        return parse_message(response.json())

    def list_messages(
        self,
        *,
        to: str | None = None,
        from_number: str | None = None,
        status: str | None = None,
        page_size: int = 50,
        limit: int | None = None,
    ) -> Iterator[SignalWireMessage]:
        """Messages, newest first, following ``next_page_uri`` until ``limit`` or the last page."""
        url: str | None = self._messages_path()
        params: dict[str, Any] | None = _list_params(to, from_number, status, page_size)
        seen = 0
        while url:
            page = self._http.request("GET", url, "list messages", params=params).json()
            for item in page.get("messages") or []:
                yield parse_message(item)
                seen += 1
                if limit is not None and seen >= limit:
                    return
            next_uri = page.get("next_page_uri")
            url = urljoin(self.credentials.http_base + "/", next_uri) if next_uri else None
            params = None


class AsyncSignalWireRestClient(_Base):
    """Non-blocking twin of :class:`SignalWireRestClient` for triggers and async notifiers."""

    def __init__(
        self,
        credentials: SignalWireCredentials,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        super().__init__(credentials, timeout=timeout, retry_policy=retry_policy)
        self._http = AsyncRetryingHttp(
            httpx.AsyncClient(
                transport=transport,
                limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
                **self._client_kwargs(),
            ), self.retry_policy, "SignalWire",
            self._check, self._map_transport,
        )  # fmt: skip

    async def __aenter__(self) -> AsyncSignalWireRestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def create_message(
        self,
        to: str,
        from_number: str,
        body: str | None = None,
        media_urls: Sequence[str] = (),
        status_callback: str | None = None,
    ) -> SignalWireMessage:
        form = build_create_form(to, from_number, body, media_urls, status_callback)
        response = await self._http.request(
            "POST", self._messages_path(), f"send a message to {to}", **_form_body(form)
        )
        return parse_message(response.json())

    async def fetch_message(self, sid: str) -> SignalWireMessage:
        response = await self._http.request("GET", self._messages_path(sid), f"fetch message {sid}")
        return parse_message(response.json())

    async def list_messages(
        self,
        *,
        to: str | None = None,
        from_number: str | None = None,
        status: str | None = None,
        page_size: int = 50,
        limit: int | None = None,
    ) -> AsyncIterator[SignalWireMessage]:
        url: str | None = self._messages_path()
        params: dict[str, Any] | None = _list_params(to, from_number, status, page_size)
        seen = 0
        while url:
            page = (await self._http.request("GET", url, "list messages", params=params)).json()
            for item in page.get("messages") or []:
                yield parse_message(item)
                seen += 1
                if limit is not None and seen >= limit:
                    return
            next_uri = page.get("next_page_uri")
            url = urljoin(self.credentials.http_base + "/", next_uri) if next_uri else None
            params = None
