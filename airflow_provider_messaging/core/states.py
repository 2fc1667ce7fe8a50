"""One state model for every service, and the rule that a message's state only moves up.

Rank: ``queued < sent < failed/undelivered < delivered < read``. A success outranks a failure
because a WhatsApp user may have several devices: a message that reached any device was
delivered, whatever order the events came in. Events of equal rank keep the later timestamp.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class MessageState(str, enum.Enum):
    QUEUED = "queued"
    SENT = "sent"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    DELIVERED = "delivered"
    READ = "read"
    RECEIVED = "received"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def is_final(self) -> bool:
        """True when no later event can change what a sender should do about the message."""
        return self in FINAL_STATES

    @classmethod
    def parse(cls, value: str | MessageState) -> MessageState:
        """Accept a state given by name in any case; say which names exist when it is unknown."""
        if isinstance(value, MessageState):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown message state {value!r}: use one of {names}") from None


_RANK = {
    MessageState.QUEUED: 0,
    MessageState.SENT: 1,
    MessageState.UNDELIVERED: 2,
    MessageState.FAILED: 2,
    MessageState.DELIVERED: 3,
    MessageState.READ: 4,
    MessageState.RECEIVED: 4,
}

FINAL_STATES = frozenset(
    {
        MessageState.UNDELIVERED,
        MessageState.FAILED,
        MessageState.DELIVERED,
        MessageState.READ,
        MessageState.RECEIVED,
    }
)

# SignalWire Compatibility API statuses (resource and status-callback enums) and Relay states.
SIGNALWIRE_STATUS_MAP: dict[str, MessageState] = {
    "accepted": MessageState.QUEUED,
    "scheduled": MessageState.QUEUED,
    "queued": MessageState.QUEUED,
    "initiated": MessageState.QUEUED,
    "sending": MessageState.QUEUED,
    "sent": MessageState.SENT,
    "delivered": MessageState.DELIVERED,
    "read": MessageState.READ,
    "undelivered": MessageState.UNDELIVERED,
    "failed": MessageState.FAILED,
    "receiving": MessageState.RECEIVED,
    "received": MessageState.RECEIVED,
}

# WhatsApp Cloud API status webhook values.
WHATSAPP_STATUS_MAP: dict[str, MessageState] = {
    "sent": MessageState.SENT,
    "delivered": MessageState.DELIVERED,
    "read": MessageState.READ,
    "played": MessageState.READ,
    "failed": MessageState.FAILED,
}


def from_signalwire(status: str | None) -> MessageState:
    """Map a SignalWire status; an unknown value is treated as not yet final (``queued``)."""
    return SIGNALWIRE_STATUS_MAP.get((status or "").lower(), MessageState.QUEUED)


def from_whatsapp(status: str | None) -> MessageState:
    return WHATSAPP_STATUS_MAP.get((status or "").lower(), MessageState.SENT)


def winning_state(events: Iterable[tuple[MessageState, float]]) -> MessageState | None:
    """The state a message is in after ``events`` (state, timestamp), in any order, duplicates allowed."""
    best: tuple[int, float] | None = None
    best_state: MessageState | None = None
    for state, timestamp in events:
        key = (state.rank, timestamp)
        if best is None or key > best:
            best, best_state = key, state
    return best_state


def advance(current: MessageState | None, new: MessageState) -> MessageState:
    """The state after ``new`` arrives: a lower-ranked late event never moves a message down."""
    if current is None or new.rank >= current.rank:
        return new
    return current
