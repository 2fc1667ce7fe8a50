"""WhatsApp Cloud API (Meta Graph API) over httpx, sync and async.

:class:`CloudApi` builds every request and reads every answer; the two clients only send them.
They send messages, mark inbound messages read, upload and download media, list message
templates (for pre-flight checks) and read the phone number (for connection tests). Retry rule:
the messages endpoint has no idempotency key, so a send is retried only when Meta answered with
an error code that says the request was refused and retrying helps (rate limits, temporary
downtime), or when the connection never opened. A timeout or an unreadable 5xx after the request
left raises ``OutcomeUnknownError``. Every other request reaches no person, so it may be retried
(a repeated upload leaves an unused media object, which expires).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

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
from ..core.http import (
    REFUSED_LOCALLY,
    USER_AGENT,
    AsyncSession,
    Call,
    Page,
    Session,
    refused_locally,
    request_never_left,
)
from ..core.retry import RetryPolicy, parse_retry_after
from .credentials import WhatsAppCredentials
from .errors import WHATSAPP_ERRORS
from .media import MediaFile
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
    # a phone number send answers with the wa_id, a user id send with the user_id
    ids = {key: contacts[0][key] for key in ("wa_id", "user_id") if contacts[0].get(key)}
    return SendResult(str(message_id), to, messages[0].get("message_status"), ids or {"wa_id": None})


@dataclass(frozen=True)
class MediaInfo:
    """What ``GET /{media-id}`` says about an uploaded or received file; ``url`` needs the token."""

    media_id: str
    url: str
    mime_type: str | None
    sha256: str | None
    file_size: int | None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> MediaInfo:
        if not data.get("url"):
            raise PermanentError(f"WhatsApp returned no download URL for media {data.get('id')}: {data}")
        size = data.get("file_size")
        return cls(str(data.get("id")), str(data["url"]), data.get("mime_type"), data.get("sha256"),
                   int(size) if size is not None else None)  # fmt: skip

    def verify(self, size: int, sha256: str) -> None:
        """Raise when what arrived is not the file Meta described: cut short, or altered."""
        if self.file_size is not None and size != self.file_size:
            raise ServiceUnavailableError(
                f"The download of media {self.media_id} was cut short: {size} of {self.file_size} bytes",
                service="whatsapp",
            )
        if self.sha256 and sha256 != self.sha256.lower():
            raise PermanentError(
                f"The download of media {self.media_id} does not match its SHA-256", service="whatsapp"
            )


class Received:
    """A download's chunks, passed on to ``write`` while their size and SHA-256 are counted."""

    def __init__(self, info: MediaInfo, write: Callable[[bytes], object]) -> None:
        self.info, self.write = info, write
        self.digest, self.size = hashlib.sha256(), 0

    def __call__(self, chunk: bytes) -> None:
        self.digest.update(chunk)
        self.size += len(chunk)
        self.write(chunk)

    def verify(self) -> None:
        self.info.verify(self.size, self.digest.hexdigest())


def _json(response: httpx.Response) -> dict[str, Any]:
    return dict(response.json())


class CloudApi:
    """Requests and answers of the Cloud API for one business number: no I/O here."""

    label = "WhatsApp"

    def __init__(self, credentials: WhatsAppCredentials) -> None:
        self.credentials = credentials
        self.messages_path = f"/{credentials.phone_number_id}/messages"
        self.media_path = f"/{credentials.phone_number_id}/media"

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
        recipient = payload.get("to") or payload["recipient"]
        return Call(
            "POST",
            self.messages_path,
            f"send a {message.type} message to {recipient}",
            lambda response: parse_send_response(response.json(), recipient),
            {"json": payload},
        )

    def upload_media(self, media: MediaFile, handle: IO[bytes]) -> Call[str]:
        """Multipart upload of an open file; the answer is the media id to send by."""
        return Call(
            "POST",
            self.media_path,
            f"upload {media.describe()}",
            lambda response: str(response.json()["id"]),
            {"files": {"file": (media.filename, handle, media.mime_type)},
             "data": {"messaging_product": "whatsapp", "type": media.mime_type}},
        )  # fmt: skip

    def get_media(self, media_id: str) -> Call[MediaInfo]:
        return Call("GET", f"/{media_id}", f"look up media {media_id}", lambda r: MediaInfo.parse(r.json()))

    def download(self, info: MediaInfo) -> Call[None]:
        """The file itself, from the URL ``get_media`` gave (valid for minutes; the token is sent).
        Streamed by the clients, not read whole: see ``download``."""
        return Call("GET", info.url, f"download media {info.media_id}", lambda response: None)

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
            if self._sends_a_message(call) and response.status_code not in (429, 503):
                raise OutcomeUnknownError(
                    text + ". The message may have been sent; it was not resent.", service="whatsapp"
                )
            raise ServiceUnavailableError(
                text, retry_after=parse_retry_after(response.headers.get("Retry-After")), service="whatsapp"
            )
        raise PermanentError(text, service="whatsapp", http_status=response.status_code)

    def _sends_a_message(self, call: Call[Any]) -> bool:
        """Only a message can reach a person twice; an upload or a lookup may be sent again."""
        return call.method == "POST" and call.path == self.messages_path

    def transport_error(self, exc: httpx.HTTPError, call: Call[Any]) -> MessagingError:
        if self._sends_a_message(call) and not request_never_left(exc):
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

    def upload_media(self, media: MediaFile) -> str:
        """Upload a checked file, read in chunks (a retry rewinds it); returns its media id."""
        with media.open() as handle:
            return self.session(self.api.upload_media(media, handle))

    def get_media(self, media_id: str) -> MediaInfo:
        return self.session(self.api.get_media(media_id))

    def download(self, info: MediaInfo, write: Callable[[bytes], object]) -> None:
        """Stream the file ``get_media`` described to ``write`` in chunks, then check its size and
        SHA-256 (a failed check raises after the chunks were written: the caller drops them)."""
        call, received = self.api.download(info), Received(info, write)
        try:
            with self.session.http.stream(call.method, call.path) as response:
                if not response.is_success:
                    response.read()
                    self.api.check(response, call)
                for chunk in response.iter_bytes():
                    received(chunk)
        except REFUSED_LOCALLY as exc:
            raise refused_locally(self.api.label, call.action, exc) from None
        except httpx.HTTPError as exc:
            raise self.api.transport_error(exc, call) from exc
        received.verify()


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

    async def upload_media(self, media: MediaFile) -> str:
        with media.open() as handle:
            return await self.session(self.api.upload_media(media, handle))

    async def get_media(self, media_id: str) -> MediaInfo:
        return await self.session(self.api.get_media(media_id))

    async def download(self, info: MediaInfo, write: Callable[[bytes], object]) -> None:
        call, received = self.api.download(info), Received(info, write)
        try:
            async with self.session.http.stream(call.method, call.path) as response:
                if not response.is_success:
                    await response.aread()
                    self.api.check(response, call)
                async for chunk in response.aiter_bytes():
                    received(chunk)
        except REFUSED_LOCALLY as exc:
            raise refused_locally(self.api.label, call.action, exc) from None
        except httpx.HTTPError as exc:
            raise self.api.transport_error(exc, call) from exc
        received.verify()
