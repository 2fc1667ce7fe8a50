"""WhatsApp Cloud API (Meta Graph API) over httpx, sync and async.

Sends messages, marks inbound messages read, lists message templates (for pre-flight checks) and
reads the phone number (for connection tests). Retry rule: the messages endpoint has no
idempotency key, so a send is retried only when Meta answered with an error code that says the
request was refused and retrying helps (rate limits, temporary downtime), or when the connection
never opened. A timeout or an unreadable 5xx after the request left raises ``OutcomeUnknownError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..core.errors import (
    AuthenticationError,
    ConfigurationError,
    MessagingError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    RecipientError,
    ServiceUnavailableError,
    TemplateError,
    WindowClosedError,
)
from ..core.retry import RetryPolicy, parse_retry_after
from ..core.whatsapp_codes import (
    AUTH_CODES,
    RATE_LIMIT_CODES,
    TEMPLATE_CODES,
    describe_whatsapp_code,
    is_transient,
)
from .http_retrying import AsyncRetryingHttp, RetryingHttp, request_never_left
from .whatsapp_messages import Message, build_send_payload
from .whatsapp_templates import TemplateInfo, parse_template

GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"
DEFAULT_TIMEOUT = 30.0
_RECIPIENT_CODES = frozenset({131026, 131050, 131049, 130472, 131021, 131030, 130497})


@dataclass(frozen=True)
class WhatsAppCredentials:
    access_token: str = field(repr=False)
    phone_number_id: str
    waba_id: str | None = None
    api_version: str = DEFAULT_API_VERSION
    base_url: str | None = None

    @property
    def http_base(self) -> str:
        return (self.base_url or GRAPH_URL).rstrip("/")


@dataclass(frozen=True)
class SendResult:
    """What the send call returned: the wamid, and the recipient's WhatsApp id when known."""

    message_id: str
    to: str
    wa_id: str | None = None
    message_status: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "to": self.to,
            "wa_id": self.wa_id,
            "message_status": self.message_status,
        }


def parse_send_response(data: dict[str, Any], to: str) -> SendResult:
    messages = data.get("messages") or [{}]
    contacts = data.get("contacts") or [{}]
    message_id = messages[0].get("id")
    if not message_id:
        raise OutcomeUnknownError(f"WhatsApp accepted the request to {to} but returned no message id: {data}")
    return SendResult(
        message_id=str(message_id),
        to=to,
        wa_id=contacts[0].get("wa_id"),
        message_status=messages[0].get("message_status"),
    )


def error_from_response(response: httpx.Response, action: str) -> MessagingError | None:
    """The error a Graph API answer carries, or ``None`` when it carries none we can read."""
    try:
        data = response.json()
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None
    try:
        code: int | None = int(error.get("code"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        code = None
    error_data = error.get("error_data")
    details = error_data.get("details") if isinstance(error_data, dict) else error_data
    trace = error.get("fbtrace_id")
    text = (
        f"WhatsApp refused to {action} (HTTP {response.status_code}, code {code}): {error.get('message')}"
        f"{f' — {details}' if details else ''}. {describe_whatsapp_code(code)}."
        f"{f' (fbtrace_id {trace})' if trace else ''}"
    )
    common: dict[str, Any] = {
        "service": "whatsapp",
        "code": code,
        "http_status": response.status_code,
        "details": error,
    }
    if is_transient(code, error.get("is_transient")):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if code in RATE_LIMIT_CODES or response.status_code == 429:
            return RateLimitedError(text, retry_after=retry_after, **common)
        return ServiceUnavailableError(text, retry_after=retry_after, **common)
    if code in AUTH_CODES or response.status_code == 401:
        return AuthenticationError(text + " Check the connection's access token.", **common)
    if code in TEMPLATE_CODES:
        return TemplateError(text, **common)
    if code == 131047:
        return WindowClosedError(text, **common)
    if code in _RECIPIENT_CODES:
        return RecipientError(text, **common)
    if code == 33 or (code == 100 and response.status_code == 404):
        return ConfigurationError(text + " Check the connection's phone number id / WABA id.", **common)
    return PermanentError(text, **common)


def _check(response: httpx.Response, method: str, action: str) -> None:
    if response.is_success:
        return
    error = error_from_response(response, action)
    if error is not None:
        raise error
    text = f"WhatsApp failed to {action} (HTTP {response.status_code}): {response.text[:200]}"
    if response.status_code >= 500 or response.status_code == 429:
        if method == "POST" and response.status_code not in (429, 503):
            raise OutcomeUnknownError(
                text + ". The message may have been sent; it was not resent.", service="whatsapp"
            )
        raise ServiceUnavailableError(
            text, retry_after=parse_retry_after(response.headers.get("Retry-After")), service="whatsapp"
        )
    raise PermanentError(text, service="whatsapp", http_status=response.status_code)


def _map_transport(exc: httpx.HTTPError, method: str, action: str, base: str) -> MessagingError:
    if method == "POST" and not request_never_left(exc):
        return OutcomeUnknownError(
            f"The request to {action} left but no answer came back ({type(exc).__name__}: {exc}). The message may or may "
            "not have been sent; it was not resent to avoid a duplicate.",
            service="whatsapp",
        )
    return ServiceUnavailableError(
        f"Could not reach WhatsApp at {base} to {action}: {type(exc).__name__}: {exc}", service="whatsapp"
    )


class _Base:
    def __init__(
        self, credentials: WhatsAppCredentials, *, timeout: float, retry_policy: RetryPolicy | None
    ) -> None:
        if not credentials.access_token:
            raise ConfigurationError(
                "The WhatsApp access token (connection password) is empty: create a System User token"
            )
        if not credentials.phone_number_id:
            raise ConfigurationError(
                "The WhatsApp phone number id is empty: copy it from WhatsApp Manager > API setup"
            )
        self.credentials = credentials
        self.timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy()

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": f"{self.credentials.http_base}/{self.credentials.api_version}",
            "headers": {
                "Authorization": f"Bearer {self.credentials.access_token}",
                "User-Agent": "airflow-provider-messaging",
            },
            "timeout": self.timeout,
        }

    def _map_transport(self, exc: httpx.HTTPError, method: str, action: str) -> Exception:
        return _map_transport(exc, method, action, self.credentials.http_base)

    def _waba(self) -> str:
        if not self.credentials.waba_id:
            raise ConfigurationError(
                "No WhatsApp Business Account id on the connection: set 'WABA id' to check templates"
            )
        return self.credentials.waba_id

    @property
    def _messages_path(self) -> str:
        return f"/{self.credentials.phone_number_id}/messages"


_TEMPLATE_FIELDS = "id,name,language,status,category,parameter_format,components"


class WhatsAppCloudClient(_Base):
    def __init__(
        self,
        credentials: WhatsAppCredentials,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(credentials, timeout=timeout, retry_policy=retry_policy)
        self._http = RetryingHttp(
            httpx.Client(transport=transport, **self._client_kwargs()), self.retry_policy, "WhatsApp",
            _check, self._map_transport,
        )  # fmt: skip

    def __enter__(self) -> WhatsAppCloudClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, action: str, **kwargs: Any) -> dict[str, Any]:
        return dict(self._http.request(method, path, action, **kwargs).json())

    def send(
        self, to: str, message: Message, *, reply_to: str | None = None, callback_data: str | None = None
    ) -> SendResult:
        payload = build_send_payload(to, message, reply_to=reply_to, callback_data=callback_data)
        data = self._request(
            "POST", self._messages_path, f"send a {message.type} message to {to}", json=payload
        )
        return parse_send_response(data, payload["to"])

    def mark_as_read(self, message_id: str, *, typing_indicator: bool = False) -> bool:
        body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing_indicator:
            body["typing_indicator"] = {"type": "text"}
        return bool(
            self._request("POST", self._messages_path, f"mark {message_id} as read", json=body).get("success")
        )

    def list_templates(self, *, name: str | None = None, page_size: int = 100) -> Iterator[TemplateInfo]:
        params: dict[str, Any] | None = {
            "fields": _TEMPLATE_FIELDS,
            "limit": page_size,
            **({"name": name} if name else {}),
        }
        url: str | None = f"/{self._waba()}/message_templates"
        while url:
            page = self._request("GET", url, "list message templates", params=params)
            yield from (parse_template(item) for item in page.get("data") or [])
            url, params = (page.get("paging") or {}).get("next"), None

    def get_phone_number(self) -> dict[str, Any]:
        fields = "display_phone_number,verified_name,quality_rating,code_verification_status"
        return self._request(
            "GET", f"/{self.credentials.phone_number_id}", "read the phone number", params={"fields": fields}
        )


class AsyncWhatsAppCloudClient(_Base):
    def __init__(
        self,
        credentials: WhatsAppCredentials,
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
            ), self.retry_policy, "WhatsApp",
            _check, self._map_transport,
        )  # fmt: skip

    async def __aenter__(self) -> AsyncWhatsAppCloudClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, action: str, **kwargs: Any) -> dict[str, Any]:
        return dict((await self._http.request(method, path, action, **kwargs)).json())

    async def send(
        self, to: str, message: Message, *, reply_to: str | None = None, callback_data: str | None = None
    ) -> SendResult:
        payload = build_send_payload(to, message, reply_to=reply_to, callback_data=callback_data)
        data = await self._request(
            "POST", self._messages_path, f"send a {message.type} message to {to}", json=payload
        )
        return parse_send_response(data, payload["to"])

    async def list_templates(
        self, *, name: str | None = None, page_size: int = 100
    ) -> AsyncIterator[TemplateInfo]:
        params: dict[str, Any] | None = {
            "fields": _TEMPLATE_FIELDS,
            "limit": page_size,
            **({"name": name} if name else {}),
        }
        url: str | None = f"/{self._waba()}/message_templates"
        while url:
            page = await self._request("GET", url, "list message templates", params=params)
            for item in page.get("data") or []:
                yield parse_template(item)
            url, params = (page.get("paging") or {}).get("next"), None
