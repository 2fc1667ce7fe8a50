"""Why a wait on the status store hears nothing: is a webhook receiver writing to this store?

States reach the store only through the webhook receiver. When it is not running, or writes to
another store, a gate would otherwise wait in silence until its timeout. The receiver records
that it is alive (``MessageStore.record_receiver_seen``) at least every ``RECEIVER_HEARTBEAT``
seconds; a wait that has heard nothing after its grace period looks there and says what to check.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..core.delivery import DeliveryTracker
    from .store import MessageStore

RECEIVER_HEARTBEAT = 30.0  # seconds between a running receiver's records of itself
RECEIVER_STALE_AFTER = 3 * RECEIVER_HEARTBEAT  # not seen for this long: not running (for this store)

_NAMES = {"whatsapp": "WhatsApp", "signalwire": "SignalWire"}
_CALLBACKS = {
    "whatsapp": "the Meta app's webhook callback URL (with the `messages` field subscribed)",
    "signalwire": "the messages' StatusCallback (the connection's `status_callback` extra)",
}


@dataclass(frozen=True)
class Silence:
    """What a silent wait says; ``no_receiver``: no receiver writes to this store at all."""

    message: str
    no_receiver: bool


def explain_silence(
    store: MessageStore, service: str, unheard: int, waited: float, now: float | None = None
) -> Silence:
    """Why ``unheard`` messages have no status after ``waited`` seconds, and what to check."""
    now = time.time() if now is None else now
    name = _NAMES.get(service, service)
    where = store.describe()
    heard = f"{unheard} message(s) have no {name} status after {waited / 60:.0f} min"
    last = store.receiver_last_seen(service)
    if last is not None and now - last <= RECEIVER_STALE_AFTER:
        return Silence(
            f"{heard}, though a {name} webhook receiver is writing to this store ({where}). Check "
            f"{_CALLBACKS.get(service, 'the webhook callback URL')}: it must point at that receiver",
            no_receiver=False,
        )
    if last is None:
        seen = "has ever written to"
    else:
        at = datetime.fromtimestamp(last, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        seen = f"has written since {at} to"
    return Silence(
        f"{heard}, and no {name} webhook receiver {seen} this store ({where}). Check that the receiver "
        "is running (`airflow api-server` with this provider installed, or `airflow-messaging "
        "webhooks`), that it uses the same [messaging] store_url as this task, and that "
        f"{_CALLBACKS.get(service, 'the webhook callback URL')} points at it",
        no_receiver=True,
    )


class SilenceWatch:
    """Decides when a wait should say why it hears nothing: once, after its grace period, and only
    while none of its messages has a status (one that has proves the receiver works)."""

    def __init__(self, wait_began: float, grace: float) -> None:
        self.wait_began = wait_began
        self.grace = grace
        self.spoken = False

    def due(self, tracker: DeliveryTracker, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        if self.spoken or now - self.wait_began < self.grace or tracker.observed or not tracker.pending():
            return False
        self.spoken = True
        return True
