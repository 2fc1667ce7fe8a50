"""SignalWire's message statuses (Compatibility resource, status callbacks, Relay states) as states."""

from __future__ import annotations

from ..core.states import MessageState

STATUS_TO_STATE: dict[str, MessageState] = {
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


def state_of(status: str | None) -> MessageState:
    """The state of a SignalWire status; an unknown value is treated as not yet final (``queued``)."""
    return STATUS_TO_STATE.get((status or "").lower(), MessageState.QUEUED)
