"""WhatsApp Cloud API (Meta Graph API) over httpx, sync and async.

:class:`CloudApi` builds every request and reads every answer; the two clients only send them.
They send messages, mark inbound messages read, list message templates (for pre-flight checks)
and read the phone number (for connection tests). Retry rule: the messages endpoint has no
idempotency key, so a send is retried only when Meta answered with an error code that says the
request was refused and retrying helps (rate limits, temporary downtime), or when the connection
never opened. A timeout or an unreadable 5xx after the request left raises ``OutcomeUnknownError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from ..core.engine import SendResult
from ..core.errors import (
    AuthenticationError,
    ConfigurationError,
    MessagingError,
    OutcomeUnknownError,
    PermanentError,
    RateLimitedError,
    ServiceUnavailableError,
    sentence,
)
from ..core.http import USER_AGENT, AsyncSession, Call, Page, Session, request_never_left
from ..core.retry import RetryPolicy, parse_retry_after
from .credentials import WhatsAppCredentials
from .errors import WHATSAPP_ERRORS
from .messages import Message, build_send_payload
from .templates import TemplateInfo, parse_template

DEFAULT_TIMEOUT = 30.0
_TEMPLATE_FIELDS = "id,name,language,status,category,parameter_format,components"
_PHONE_FIELDS = "display_phone_number,verified_name,quality_rating,code_verification_status"


def parse_send_response(data: dict[str, Any], to: str) -> SendResult:
    messages = data.get("messages") or [{}]
    contacts = data.get("contacts") or [{}]
    message_id = messages[0].get("id")
    if not message_id:
        raise OutcomeUnknownError(f"WhatsApp accepted the request to {to} but returned no message id: {data}")
    return SendResult(
        str(message_id), to, messages[0].get("message_status"), {"wa_id": contacts[0].get("wa_id")}
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    return dict(response.json())


class CloudApi:
    """Requests and answers of the Cloud API for one business number: no I/O here."""

    label = "WhatsApp"

    def __init__(self, credentials: WhatsAppCredentials) -> None:
        self.credentials = credentials
        self.messages_path = f"/{credentials.phone_number_id}/messages"

    def client_options(self) -> dict[str, Any]:
        return {
            "base_url": f"{self.credentials.http_base}/{self.credentials.api_version}",
            "headers": {"Authorization": f"Bearer {self.credentials.access_token}", "User-Agent": USER_AGENT},
        }

    # -- requests ----------------------------------------------------------------------------

    def send(
        self, to: str, message: Message, *, reply_to: str | None = None, callback_data: str | None = None
    ) -> Call[SendResult]:
        payload = build_send_payload(to, message, reply_to=reply_to, callback_data=callback_data)
        return Call(
            "POST",
            self.messages_path,
            f"send a {message.type} message to {to}",
            lambda response: parse_send_response(response.json(), payload["to"]),
            {"json": payload},
        )

    def mark_as_read(self, message_id: str, *, typing_indicator: bool = False) -> Call[bool]:
        body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
        if typing_indicator:
            body["typing_indicator"] = {"type": "text"}
        return Call(
            "POST",
            self.messages_path,
            f"mark {message_id} as read",
            lambda response: bool(response.json().get("success")),
            {"json": body},
        )

    def list_templates(self, *, name: str | None = None, page_size: int = 100) -> Call[Page[TemplateInfo]]:
        if not self.credentials.waba_id:
            raise ConfigurationError(
                "No WhatsApp Business Account id on the connection: set 'WABA id' to check templates"
            )
        params = {"fields": _TEMPLATE_FIELDS, "limit": page_size, **({"name": name} if name else {})}
        return self._template_page(f"/{self.credentials.waba_id}/message_templates", {"params": params})

    def _template_page(self, url: str, options: dict[str, Any]) -> Call[Page[TemplateInfo]]:
        def parse(response: httpx.Response) -> Page[TemplateInfo]:
            data = response.json()
            following = (data.get("paging") or {}).get("next")  # an absolute URL, query included
            return Page(
                [parse_template(item) for item in data.get("data") or []],
                self._template_page(following, {}) if following else None,
            )

        return Call("GET", url, "list message templates", parse, options)

    def get_phone_number(self) -> Call[dict[str, Any]]:
        return Call(
            "GET", f"/{self.credentials.phone_number_id}", "read the phone number", _json,
            {"params": {"fields": _PHONE_FIELDS}},
        )  # fmt: skip

    # -- answers ------------------------------------------------------------------------------

    def error_for(self, response: httpx.Response, action: str) -> MessagingError | None:
        """The error a Graph API answer carries, or ``None`` when it carries none we can read."""
        try:
            data = response.json()
        except ValueError:
            return None
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return None
        code = error.get("code")
        error_data = error.get("error_data")
        details = error_data.get("details") if isinstance(error_data, dict) else error_data
        trace = error.get("fbtrace_id")
        text = (
            f"WhatsApp refused to {action} (HTTP {response.status_code}, code {code}): "
            f"{sentence(error.get('message'))}{f' — {sentence(details)}' if details else ''}. "
            f"{WHATSAPP_ERRORS.describe(code)}.{f' (fbtrace_id {trace})' if trace else ''}"
        )
        if response.status_code == 401 or isinstance(WHATSAPP_ERRORS.error(code, ""), AuthenticationError):
            text += f" Check the access token (password) of {self.credentials.source}."
        common: dict[str, Any] = {"http_status": response.status_code, "details": error}
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        entry, flagged = WHATSAPP_ERRORS.get(code), error.get("is_transient")
        # Meta's own flag wins over the table, except that a rate limit always means "wait, then again"
        if flagged is True and not (entry and entry.retryable):
            kind = RateLimitedError if response.status_code == 429 else ServiceUnavailableError
            return kind(text, retry_after=retry_after, service="whatsapp", code=code, **common)
        if flagged is False and entry and entry.retryable and entry.kind is not RateLimitedError:
            return PermanentError(text, service="whatsapp", code=code, **common)
        if response.status_code == 401 and code not in WHATSAPP_ERRORS:
            return AuthenticationError(text, service="whatsapp", code=code, **common)
        if response.status_code == 404 and str(code) == "100":
            return ConfigurationError(
                text + f" Check the phone number id and WABA id of {self.credentials.source}.",
                service="whatsapp",
                code=code,
                **common,
            )
        found = WHATSAPP_ERRORS.error(code, text, **common)
        if isinstance(found, RateLimitedError | ServiceUnavailableError):
            found.retry_after = retry_after
        return found

    def check(self, response: httpx.Response, call: Call[Any]) -> None:
        if response.is_success:
            return
        error = self.error_for(response, call.action)
        if error is not None:
            raise error
        text = (
            f"WhatsApp failed to {call.action} (HTTP {response.status_code}): {sentence(response.text[:200])}"
        )
        if response.status_code >= 500 or response.status_code == 429:
            if call.method == "POST" and response.status_code not in (429, 503):
                raise OutcomeUnknownError(
                    text + ". The message may have been sent; it was not resent.", service="whatsapp"
                )
            raise ServiceUnavailableError(
                text, retry_after=parse_retry_after(response.headers.get("Retry-After")), service="whatsapp"
            )
        raise PermanentError(text, service="whatsapp", http_status=response.status_code)

    def transport_error(self, exc: httpx.HTTPError, call: Call[Any]) -> MessagingError:
        if call.method == "POST" and not request_never_left(exc):
            return OutcomeUnknownError(
                f"The request to {call.action} left but no answer came back ({type(exc).__name__}: {exc}). The "
                "message may or may not have been sent; it was not resent to avoid a duplicate.",
                service="whatsapp",
            )
        return ServiceUnavailableError(
            f"Could not reach WhatsApp at {self.credentials.http_base} to {call.action}: {type(exc).__name__}: "
            f"{sentence(exc)}. Check the base URL (extra base_url) of {self.credentials.source} and the network.",
            service="whatsapp",
        )


class WhatsAppCloudClient:
    """Blocking client; one connection pool reused for every call. Close it or use ``with``."""

    def __init__(
        self,
        credentials: WhatsAppCredentials,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api = CloudApi(credentials)
        self.session = Session(self.api, retry_policy or RetryPolicy(), timeout=timeout, transport=transport)

    def __enter__(self) -> WhatsAppCloudClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def send(self, to: str, message: Message, **options: Any) -> SendResult:
        """``options``: ``reply_to`` (a wamid to quote), ``callback_data`` (``biz_opaque_callback_data``)."""
        return self.session(self.api.send(to, message, **options))

    def mark_as_read(self, message_id: str, *, typing_indicator: bool = False) -> bool:
        return self.session(self.api.mark_as_read(message_id, typing_indicator=typing_indicator))

    def list_templates(self, **filters: Any) -> Iterator[TemplateInfo]:
        """Every template of the WABA, page by page; ``filters``: ``name``, ``page_size``."""
        return self.session.pages(self.api.list_templates(**filters))

    def get_phone_number(self) -> dict[str, Any]:
        return self.session(self.api.get_phone_number())


class AsyncWhatsAppCloudClient:
    """Non-blocking twin of :class:`WhatsAppCloudClient`."""

    def __init__(
        self,
        credentials: WhatsAppCredentials,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_policy: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        self.api = CloudApi(credentials)
        self.session = AsyncSession(self.api, retry_policy or RetryPolicy(), timeout=timeout, transport=transport,
                                    max_connections=max_connections)  # fmt: skip

    async def __aenter__(self) -> AsyncWhatsAppCloudClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.session.aclose()

    async def send(self, to: str, message: Message, **options: Any) -> SendResult:
        return await self.session(self.api.send(to, message, **options))

    async def mark_as_read(self, message_id: str, *, typing_indicator: bool = False) -> bool:
        return await self.session(self.api.mark_as_read(message_id, typing_indicator=typing_indicator))

    def list_templates(self, **filters: Any) -> AsyncIterator[TemplateInfo]:
        return self.session.pages(self.api.list_templates(**filters))

    async def get_phone_number(self) -> dict[str, Any]:
        return await self.session(self.api.get_phone_number())
