"""SignalWire's native Messaging API (``/api/messaging``) and its message logs, sync and async.

- ``POST /api/messaging/messages`` sends (JSON ``to``, ``from``, ``body``, ``media``,
  ``status_callback``, ``custom_variables``); the answer's ``id`` is the id the logs show.
- ``GET /api/messaging/logs/{id}`` and ``GET /api/messaging/logs`` read the message logs, which
  hold every message of the project whichever API sent it: Compatibility, native and Relay. They
  are the one REST view of a Relay message's state (a Relay message has no Compatibility resource).

Errors come in the ``/api/*`` shape, ``{"errors": [{"type", "code", "message", "attribute",
"url"}]}`` with string codes (``invalid_from_number``) that SignalWire's error table maps like the
Compatibility API's numbers; plain ``{"error": "Not Found"}`` for 400/401/404/500.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from ..core.delivery import Observation
from ..core.engine import SendResult
from ..core.errors import MessageNotFoundError, TransientError, ValidationError
from ..core.events import StatusEvent
from ..core.http import Call, Page
from ..core.states import MessageState
from .credentials import SignalWireCredentials
from .errors import SIGNALWIRE_ERRORS
from .space import AsyncSpaceClient, SpaceApi, SpaceClient, space_path
from .statuses import state_of

MESSAGES_PATH = "/api/messaging/messages"
LOGS_PATH = "/api/messaging/logs"
MAX_CUSTOM_VARIABLES = 20
_CUSTOM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_PREFIXES = ("signalwire_", "sw_", "rtc_", "internal_")


def checked_custom_variables(
    values: Mapping[str, str] | None, field: str = "custom_variables"
) -> dict[str, str]:
    """``custom_variables`` as the native API accepts them, checked before any request."""
    if not values:
        return {}
    if not isinstance(values, Mapping):
        raise ValidationError(field, f"expected a mapping of text to text, got {type(values).__name__}",
                              'Pass e.g. {"order": "12345"}')  # fmt: skip
    if len(values) > MAX_CUSTOM_VARIABLES:
        raise ValidationError(field, f"{len(values)} variables", f"Pass at most {MAX_CUSTOM_VARIABLES}")
    for name, value in values.items():
        if not isinstance(name, str) or not _CUSTOM_NAME.match(name):
            raise ValidationError(f"{field}[{name!r}]", "the name is not allowed",
                                  "Start names with a letter or underscore; use letters, digits and underscores")  # fmt: skip
        if name.lower().startswith(_RESERVED_PREFIXES):
            raise ValidationError(f"{field}[{name!r}]", "the name uses a reserved prefix",
                                  "Do not start names with signalwire_, sw_, rtc_ or internal_")  # fmt: skip
        if not isinstance(value, str) or not value:
            raise ValidationError(
                f"{field}[{name!r}]", "the value is empty or not text", "Give a non-empty text value"
            )
        if len(value.encode()) > 1024:
            raise ValidationError(f"{field}[{name!r}]", f"the value is {len(value.encode())} bytes long",
                                  "Keep each value to at most 1024 bytes")  # fmt: skip
    return dict(values)


def epoch(timestamp: str | None) -> float | None:
    """An ISO 8601 time (``2026-03-17T22:26:57Z``) as epoch seconds; ``None`` when unreadable."""
    try:
        return (
            datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).timestamp() if timestamp else None
        )
    except ValueError:
        return None


@dataclass(frozen=True)
class NativeMessage:
    """A message as the native API answers a send, or as a message log entry describes it."""

    id: str
    status: str
    to: str | None
    from_number: str | None
    direction: str | None = None
    kind: str | None = None  # sms | mms
    number_of_segments: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    created_at: float | None = None
    source: str | None = None  # logs: realtime_api | laml
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> NativeMessage:
        code, segments = data.get("error_code"), data.get("number_of_segments")
        return cls(
            id=str(data["id"]), status=str(data.get("status") or ""), to=data.get("to"),
            from_number=data.get("from"), direction=data.get("direction"), kind=data.get("kind"),
            number_of_segments=int(segments) if isinstance(segments, (int, float)) else None,
            error_code=None if code in (None, "") else str(code), error_message=data.get("error_message"),
            created_at=epoch(data.get("created_at")), source=data.get("source"), raw=dict(data),
        )  # fmt: skip

    @property
    def state(self) -> MessageState:
        return state_of(self.status)

    def observation(self) -> Observation:
        """This message as the delivery gate sees it (a Relay failure may have a text but no code)."""
        return Observation(
            message_id=self.id, state=self.state, status=self.status, recipient=self.to,
            error_code=self.error_code, error_message=self.error_message,
            error_meaning=SIGNALWIRE_ERRORS.describe(self.error_code) if self.error_code else None,
        )  # fmt: skip

    def as_send_result(self) -> SendResult:
        return SendResult(self.id, self.to or "", self.status,
                          {"from": self.from_number, "num_segments": self.number_of_segments})  # fmt: skip

    def as_status_event(self) -> StatusEvent:
        """What the logs say, as the status store keeps it (once per status)."""
        return StatusEvent(
            "signalwire", self.id, self.state, self.status, time.time(), recipient=self.to,
            error_code=self.error_code, error_title=SIGNALWIRE_ERRORS.meaning(self.error_code),
            error_details=self.error_message, same_event_key=f"logs:{self.status}",
        )  # fmt: skip


def _one(response: httpx.Response) -> NativeMessage:
    return NativeMessage.parse(response.json())


class MessagingApi(SpaceApi):
    """Requests and answers of the native Messaging API and the message logs: no I/O here."""

    def send_message(
        self,
        to: str,
        from_number: str,
        body: str | None = None,
        media: Sequence[str] = (),
        status_callback: str | None = None,
        custom_variables: Mapping[str, str] | None = None,
    ) -> Call[NativeMessage]:
        """Optional keys are left out, as SignalWire's own SDK does."""
        payload: dict[str, Any] = {"to": to, "from": from_number}
        if body is not None:
            payload["body"] = body
        if media:
            payload["media"] = list(media)
        if status_callback:
            payload["status_callback"] = status_callback
        if custom_variables:
            payload["custom_variables"] = dict(custom_variables)
        return Call("POST", MESSAGES_PATH, f"send a message to {to}", _one, {"json": payload})

    def fetch_log(self, message_id: str) -> Call[NativeMessage]:
        return Call(
            "GET", f"{LOGS_PATH}/{message_id}", f"fetch message {message_id} from the message logs", _one
        )

    def list_logs(
        self,
        *,
        created_after: str | None = None,
        created_before: str | None = None,
        created_on: str | None = None,
        page_size: int = 50,
    ) -> Call[Page[NativeMessage]]:
        """Newest first; dates as ``YYYY-MM-DD``."""
        params: dict[str, Any] = {"page_size": page_size}
        for key, value in (("created_after", created_after), ("created_before", created_before),
                           ("created_on", created_on)):  # fmt: skip
            if value:
                params[key] = value
        return self._page(LOGS_PATH, {"params": params})

    def _page(self, path: str, options: dict[str, Any]) -> Call[Page[NativeMessage]]:
        def parse(response: httpx.Response) -> Page[NativeMessage]:
            data = response.json()
            next_url = (data.get("links") or {}).get("next")
            follow = self._page(space_path(next_url), {}) if next_url else None
            return Page([NativeMessage.parse(item) for item in data.get("data") or []], follow)

        return Call("GET", path, "list the message logs", parse, options)

    def read_error(self, payload: dict[str, Any]) -> tuple[str | None, str | None]:
        """``{"errors": [...]}``: the first entry's code, every entry's text; or ``{"error": "Not Found"}``."""
        errors = payload.get("errors")
        if isinstance(errors, list) and errors and all(isinstance(e, dict) for e in errors):
            texts = [
                f"{e.get('code')}"
                + (f" ({e['attribute']})" if e.get("attribute") else "")
                + f": {e.get('message')}"
                for e in errors
            ]
            code = errors[0].get("code")
            return (str(code) if code else None), "; ".join(texts)
        return None, payload.get("error") or payload.get("message")


class MessagingApiClient(SpaceClient[MessagingApi]):
    """Blocking client for the native API and the logs; one connection pool. Close it or use ``with``."""

    def __init__(self, credentials: SignalWireCredentials, **options: Any) -> None:
        """``options``: ``timeout``, ``retry_policy``, ``transport``."""
        super().__init__(MessagingApi(credentials), **options)

    def send_message(self, to: str, from_number: str, body: str | None = None, media: Sequence[str] = (),
                     status_callback: str | None = None,
                     custom_variables: Mapping[str, str] | None = None) -> NativeMessage:  # fmt: skip
        return self.session(
            self.api.send_message(to, from_number, body, media, status_callback, custom_variables)
        )

    def fetch_log(self, message_id: str) -> NativeMessage:
        return self.session(self.api.fetch_log(message_id))

    def list_logs(self, *, limit: int | None = None, **filters: Any) -> Iterator[NativeMessage]:
        """Log entries, newest first, following ``links.next`` until ``limit`` or the last page."""
        return self.items(self.api.list_logs(**filters), limit)


class AsyncMessagingApiClient(AsyncSpaceClient[MessagingApi]):
    """Non-blocking twin of :class:`MessagingApiClient` for triggers and senders."""

    def __init__(self, credentials: SignalWireCredentials, **options: Any) -> None:
        """``options``: ``timeout``, ``retry_policy``, ``transport``, ``max_connections``."""
        super().__init__(MessagingApi(credentials), **options)

    async def send_message(self, to: str, from_number: str, body: str | None = None, media: Sequence[str] = (),
                           status_callback: str | None = None,
                           custom_variables: Mapping[str, str] | None = None) -> NativeMessage:  # fmt: skip
        return await self.session(
            self.api.send_message(to, from_number, body, media, status_callback, custom_variables)
        )

    async def fetch_log(self, message_id: str) -> NativeMessage:
        return await self.session(self.api.fetch_log(message_id))

    def list_logs(self, *, limit: int | None = None, **filters: Any) -> AsyncIterator[NativeMessage]:
        return self.items(self.api.list_logs(**filters), limit)


FEW = 50  # up to this many messages are fetched one by one; more, by reading the recent logs
FETCHES_AT_ONCE = 8
MAX_LOG_PAGES = 20  # of 1,000 entries: a look reads at most the project's last 20,000 messages


async def look_up(client: AsyncMessagingApiClient, message_ids: Sequence[str]) -> dict[str, NativeMessage]:
    """The log entries of ``message_ids`` that the logs hold now (Relay, native or Compatibility).

    A few ids are fetched one by one, ``FETCHES_AT_ONCE`` at a time; many, by reading the last two
    days of logs (newest first, at most ``MAX_LOG_PAGES`` pages) until all are found. An id the logs
    do not hold yet, or logs that cannot be read right now, are left out: the caller looks again later.
    """
    import asyncio

    wanted = set(message_ids)
    found: dict[str, NativeMessage] = {}
    if len(wanted) <= FEW:
        turns = asyncio.Semaphore(FETCHES_AT_ONCE)

        async def fetch(message_id: str) -> None:
            async with turns:
                with contextlib.suppress(MessageNotFoundError, TransientError):
                    found[message_id] = await client.fetch_log(message_id)

        await asyncio.gather(*(fetch(message_id) for message_id in wanted))
        return found
    since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 2 * 86400))
    with contextlib.suppress(TransientError):  # keep what was found; the rest is looked up next time
        async for entry in client.list_logs(created_after=since, page_size=1000, limit=MAX_LOG_PAGES * 1000):
            if entry.id in wanted:
                found[entry.id] = entry
                if len(found) == len(wanted):
                    break
    return found
