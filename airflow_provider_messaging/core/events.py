"""What a webhook or an event stream tells us: a status change or an inbound message."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .states import MessageState


class MalformedPayload(ValueError):
    """A webhook body is not what the service sends; answered with HTTP 400."""


def number_or(value: Any, default: float) -> float:
    """``value`` as a finite number (webhooks send timestamps and counts as text), else ``default``
    (also for ``"nan"`` and ``"inf"``, which ``float`` reads but no timestamp or count can be)."""
    if isinstance(value, bool):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return number if math.isfinite(number) else default


def text_or_none(value: Any) -> str | None:
    """A webhook field that should be text: text as is, a number as text, anything else (an
    object, a list, ``true``) ``None``, so one odd field never costs the event its place."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


@dataclass(frozen=True)
class StatusEvent:
    service: str
    message_id: str
    state: MessageState
    raw_status: str
    timestamp: float  # when the service says it happened (orders events of equal rank)
    recipient: str | None = None
    error_code: str | None = None
    error_title: str | None = None
    error_details: str | None = None
    correlation: str | None = None  # e.g. WhatsApp biz_opaque_callback_data
    payload: dict[str, Any] = field(default_factory=dict, compare=False)
    # Services whose events carry no timestamp of their own (SignalWire callbacks) say what makes
    # two deliveries the same event; otherwise the service's timestamp does.
    same_event_key: str | None = None

    @cached_property  # a frozen dataclass's __dict__ still takes it
    def fingerprint(self) -> str:
        """Identity of the event: a webhook delivered twice has the same fingerprint."""
        when = self.same_event_key if self.same_event_key is not None else f"{self.timestamp:.6f}"
        key = "|".join([self.service, self.message_id, self.raw_status, when, self.error_code or ""])
        return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class InboundMessage:
    service: str
    message_id: str
    sender: str
    recipient: str | None
    kind: str  # text, button, interactive, image, ...
    text: str | None
    timestamp: float
    context_id: str | None = None  # the outbound message this one answers
    payload: dict[str, Any] = field(default_factory=dict, compare=False)
    # what the service says beyond the common fields, e.g. WhatsApp's user_id, username and media
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def senders(self) -> frozenset[str]:
        """Every name the sender goes by: the number, and ids such as a user id."""
        names = {
            self.sender,
            *(str(self.details.get(k) or "") for k in ("wa_id", "user_id", "parent_user_id")),
        }
        return frozenset(n for n in names if n)

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "id": self.message_id,
            "from": self.sender,
            "to": self.recipient,
            "type": self.kind,
            "text": self.text,
            "timestamp": self.timestamp,
            "context_id": self.context_id,
            **self.details,
        }


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True, default=str)
