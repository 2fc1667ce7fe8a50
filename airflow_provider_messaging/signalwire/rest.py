"""SignalWire's Compatibility (LaML) Messages API over httpx, sync and async.

:class:`CompatibilityApi` builds every request and reads every answer; the two clients only send
them. What a failed answer means, and which requests are retried, is shared with the native
Messaging API (:mod:`.space`).
"""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from ..core.delivery import Observation
from ..core.engine import SendResult
from ..core.http import Call, Page
from ..core.states import MessageState
from .credentials import SignalWireCredentials
from .errors import SIGNALWIRE_ERRORS
from .space import AsyncSpaceClient, SpaceApi, SpaceClient, space_path
from .statuses import state_of

API_PATH = "/api/laml/2010-04-01"


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


def _one_message(response: httpx.Response) -> SignalWireMessage:
    return parse_message(response.json())


class CompatibilityApi(SpaceApi):
    """Requests and answers of the Compatibility Messages API for one project: no I/O here."""

    not_found_hint = (
        " A message sent over Relay or the native Messaging API has no Compatibility resource: gate it with "
        "source='store', which looks it up in the message logs."
    )

    def __init__(self, credentials: SignalWireCredentials) -> None:
        super().__init__(credentials)
        self.messages_path = f"{API_PATH}/Accounts/{credentials.project_id}/Messages"

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
            follow = self._page(space_path(next_uri), {}) if next_uri else None
            return Page([parse_message(item) for item in data.get("messages") or []], follow)

        return Call("GET", path, "list messages", parse, options)

    # -- answers ------------------------------------------------------------------------------

    def read_error(self, payload: dict[str, Any]) -> tuple[str | None, str | None]:
        """``{"code": 21211, "message": ..., "more_info": ..., "status": 400}``."""
        code = payload.get("code")
        return (None if code in (None, "") else str(code)), payload.get("message")

    def unknown_message(self, code: str | None) -> bool:
        return code == "20404"


class SignalWireRestClient(SpaceClient[CompatibilityApi]):
    """Blocking client; one connection pool reused for every call. Close it or use ``with``."""

    def __init__(self, credentials: SignalWireCredentials, **options: Any) -> None:
        """``options``: ``timeout``, ``retry_policy``, ``transport``."""
        super().__init__(CompatibilityApi(credentials), **options)

    def create_message(self, to: str, from_number: str, body: str | None = None, media_urls: Sequence[str] = (),
                       status_callback: str | None = None) -> SignalWireMessage:  # fmt: skip
        return self.session(self.api.create_message(to, from_number, body, media_urls, status_callback))

    def fetch_message(self, sid: str) -> SignalWireMessage:
        return self.session(self.api.fetch_message(sid))

    def list_messages(self, *, limit: int | None = None, **filters: Any) -> Iterator[SignalWireMessage]:
        """Messages, newest first, following ``next_page_uri`` until ``limit`` or the last page;
        ``filters``: ``to``, ``from_number``, ``status``, ``sent_after``, ``page_size``."""
        return self.items(self.api.list_messages(**filters), limit)


class AsyncSignalWireRestClient(AsyncSpaceClient[CompatibilityApi]):
    """Non-blocking twin of :class:`SignalWireRestClient` for triggers, senders and async notifiers."""

    def __init__(self, credentials: SignalWireCredentials, **options: Any) -> None:
        """``options``: ``timeout``, ``retry_policy``, ``transport``, ``max_connections``."""
        super().__init__(CompatibilityApi(credentials), **options)

    async def create_message(self, to: str, from_number: str, body: str | None = None, media_urls: Sequence[str] = (),
                             status_callback: str | None = None) -> SignalWireMessage:  # fmt: skip
        return await self.session(self.api.create_message(to, from_number, body, media_urls, status_callback))

    async def fetch_message(self, sid: str) -> SignalWireMessage:
        return await self.session(self.api.fetch_message(sid))

    def list_messages(self, *, limit: int | None = None, **filters: Any) -> AsyncIterator[SignalWireMessage]:
        return self.items(self.api.list_messages(**filters), limit)
