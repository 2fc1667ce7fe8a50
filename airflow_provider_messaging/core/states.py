"""One state model for every service, and the rule that a message's state only moves up.

Rank: ``queued < sent < failed/undelivered < delivered < read``. A success outranks a failure
because a WhatsApp user may have several devices: a message that reached any device was
delivered, whatever order the events came in. Events of equal rank keep the later timestamp (the
status store applies this rule in one atomic upsert). Each service maps its own statuses onto
these states (``signalwire/statuses.py``, ``whatsapp/webhooks.py``).
"""

from __future__ import annotations

import enum


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
    def is_failure(self) -> bool:
        return self in (MessageState.FAILED, MessageState.UNDELIVERED)

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
