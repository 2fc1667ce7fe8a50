"""How the send engine sends an SMS/MMS through SignalWire: over the Compatibility REST API, the
native Messaging API, or a Relay connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.engine import PreparedSend, SendResult
from ..core.errors import ConfigurationError, TransientError
from ..core.phone import normalize_e164
from .credentials import SignalWireCredentials
from .native import AsyncMessagingApiClient, checked_custom_variables
from .relay import FINAL_STATES, RelayClient, RelayMessage
from .rest import AsyncSignalWireRestClient
from .sms import segment_count, validate_content


def checked_sender(from_number: str | None, conn_id: str) -> str:
    """The sending number in E.164 form: the task's, else the connection's Default From number."""
    if not from_number:
        raise ConfigurationError(
            f"from_number: no sender given. Pass from_number= or set 'Default From number' on connection {conn_id!r}."
        )
    return normalize_e164(from_number, "from_number")


RECONCILE_LOOKBACK = 50  # messages to one recipient from one sender read when looking one up
CLOCK_SKEW = 5.0  # seconds SignalWire's clock may run behind ours


@dataclass(frozen=True)
class Sms:
    """What goes to each recipient: the sender, the text and the media, already checked."""

    sender: str
    body: str | None
    media: list[str] = field(default_factory=list)

    @classmethod
    def checked(
        cls, body: str | None, media_urls: Sequence[str] | None, from_number: str | None, conn_id: str
    ) -> Sms:
        """The text, media and sender checked before any request; ``from_number`` is the task's or
        the connection's Default From number."""
        text, media = validate_content(body, media_urls)
        return cls(checked_sender(from_number, conn_id), text, media)

    def to(self, row: int, recipient: str) -> PreparedSend[Sms]:
        content = {"from": self.sender, "body": self.body, "media": self.media}
        return PreparedSend(row, recipient, content, self)


class RestSender:
    """One Compatibility API create per send, spread over the clients ``next_client`` hands out."""

    recipient_interval = 0.0

    def __init__(
        self, next_client: Callable[[], AsyncSignalWireRestClient], status_callback: str | None = None
    ) -> None:
        self.next_client = next_client
        self.status_callback = status_callback

    async def send(self, item: PreparedSend[Sms]) -> SendResult:
        sms = item.payload
        message = await self.next_client().create_message(
            item.recipient, sms.sender, sms.body, sms.media, self.status_callback
        )
        return message.as_send_result()

    async def reconcile(self, item: PreparedSend[Sms], since: float) -> SendResult | None:
        """The message this send created, if SignalWire has one: same To, From and body, created since
        the attempt began (the message list, newest first)."""
        sms = item.payload
        day_before = time.strftime("%Y-%m-%d", time.gmtime(since - 86400))  # the list filters by UTC day
        messages = self.next_client().list_messages(
            to=item.recipient, from_number=sms.sender, sent_after=day_before, limit=RECONCILE_LOOKBACK
        )
        async for message in messages:
            created = message.created_at
            if created is not None and created < since - CLOCK_SKEW:
                break  # newest first: nothing older can be this send
            if (message.body or None) == (sms.body or None):
                return message.as_send_result()
        return None


class NativeSender:
    """One native Messaging API send per request, spread over the clients ``next_client`` hands out.

    A send whose answer was lost can be found again in the message logs (:func:`find_in_logs`).
    """

    recipient_interval = 0.0

    def __init__(
        self,
        next_client: Callable[[], AsyncMessagingApiClient],
        status_callback: str | None = None,
        custom_variables: Mapping[str, str] | None = None,
    ) -> None:
        self.next_client = next_client
        self.status_callback = status_callback
        self.custom_variables = checked_custom_variables(custom_variables)

    async def send(self, item: PreparedSend[Sms]) -> SendResult:
        sms = item.payload
        message = await self.next_client().send_message(
            item.recipient, sms.sender, sms.body, sms.media, self.status_callback, self.custom_variables
        )
        return message.as_send_result()

    async def reconcile(self, item: PreparedSend[Sms], since: float) -> SendResult | None:
        return await find_in_logs(self.next_client(), item, since)


async def find_in_logs(
    client: AsyncMessagingApiClient, item: PreparedSend[Sms], since: float
) -> SendResult | None:
    """The message a send made at ``since`` or later, found in the message logs by what it sent.

    The logs hold no body, so a message matches by recipient, sender, direction, kind (SMS or
    MMS) and segment count. Only a single match is an answer: two candidates (the same text to
    the same person twice), none, or logs that cannot be read now leave the outcome unknown (``None``).
    """
    try:
        return await _single_match(client, item, since)
    except TransientError:
        return None


async def _single_match(
    client: AsyncMessagingApiClient, item: PreparedSend[Sms], since: float
) -> SendResult | None:
    sms = item.payload
    kind = "mms" if sms.media else "sms"
    segments = segment_count(sms.body) if sms.body and not sms.media else None
    oldest = since - CLOCK_SKEW
    day = time.strftime("%Y-%m-%d", time.gmtime(oldest - 86400))  # the logs filter by day
    found: list[SendResult] = []
    async for entry in client.list_logs(created_after=day, page_size=100):
        if entry.created_at is not None and entry.created_at < oldest:
            break  # newest first: the rest is older
        if (
            entry.to == item.recipient and entry.from_number == sms.sender
            and (entry.direction or "").startswith("outbound") and entry.kind in (None, kind)
            and (segments is None or entry.number_of_segments in (None, segments))
        ):  # fmt: skip
            found.append(entry.as_send_result())
    return found[0] if len(found) == 1 else None


class RelaySender:
    """``messaging.send`` over one Relay connection; the state events it sees go to ``on_state``.

    Use it with ``with``: it connects, and on the way out listens a little longer for the final
    state of every message it sent (``wait_for_states`` seconds at most), then closes.
    """

    recipient_interval = 0.0

    def __init__(
        self,
        credentials: SignalWireCredentials,
        context: str,
        tags: Sequence[str] = (),
        *,
        on_state: Callable[[RelayMessage], object] | None = None,
        wait_for_states: float = 2.0,
        request_timeout: float = 10.0,
        relay_protocol: str | None = None,
    ) -> None:
        self.context, self.tags = context, list(tags)
        self.credentials = credentials
        self.wait_for_states = wait_for_states
        self.states: dict[str, str] = {}  # message id -> last state seen
        self._sent: list[str] = []
        self._on_state = on_state
        self.client = RelayClient(
            credentials, contexts=[context], on_state=self._state, request_timeout=request_timeout,
            relay_protocol=relay_protocol,
        )  # fmt: skip

    def _state(self, message: RelayMessage) -> None:
        self.states[message.message_id] = message.state
        if self._on_state is not None:
            self._on_state(message)

    def __enter__(self) -> RelaySender:
        self.client.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        deadline = time.monotonic() + self.wait_for_states
        # by sent id: a message's first event may not have arrived yet
        while time.monotonic() < deadline and any(self.states.get(i) not in FINAL_STATES for i in self._sent):
            time.sleep(0.05)
        self.client.close()

    async def send(self, item: PreparedSend[Sms]) -> SendResult:
        sms = item.payload
        result = await asyncio.to_thread(
            self.client.send, self.context, item.recipient, sms.sender, sms.body, sms.media, self.tags
        )
        self._sent.append(result.message_id)
        return result

    async def reconcile(self, item: PreparedSend[Sms], since: float) -> SendResult | None:
        """A Relay send whose answer was lost, found in the message logs (they hold Relay messages too)."""
        from ..core.retry import RetryPolicy

        async with AsyncMessagingApiClient(
            self.credentials, retry_policy=RetryPolicy(max_attempts=3)
        ) as client:
            return await find_in_logs(client, item, since)
