"""What the sandbox has accepted, kept in memory for the control API."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StoredMessage:
    service: str
    sid: str
    to: str
    from_number: str
    body: str | None
    media: list[str]
    status: str
    status_callback: str | None
    num_segments: int
    date_created: float
    date_updated: float
    date_sent: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)  # the request as sent (WhatsApp)
    relay_context: str | None = None  # sent over Relay: its context and tags
    tags: list[str] = field(default_factory=list)
    # SignalWire: which API the message went through ("compatibility", "relay", "messaging" for the
    # native Messaging API); the message logs show all three
    channel: str = "compatibility"
    relay_framing: str | None = None  # the framing the Relay client spoke: "signalwire" or "blade"
    direction: str = "outbound"
    custom_variables: dict[str, str] = field(default_factory=dict)

    def set_status(
        self, status: str, error_code: str | None = None, error_message: str | None = None
    ) -> None:
        now = time.time()
        self.status = status
        self.date_updated = now
        if status == "sent" and self.date_sent is None:
            self.date_sent = now
        if error_code is not None or error_message is not None:
            self.error_code, self.error_message = error_code, error_message
        self.history.append({"status": status, "at": now})

    def control_view(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "sid": self.sid,
            "to": self.to,
            "from": self.from_number,
            "body": self.body,
            "media": self.media,
            "status": self.status,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "created_at": self.date_created,
            "history": list(self.history),
            "payload": self.payload,
            "relay_context": self.relay_context,
            "tags": list(self.tags),
            "channel": self.channel,
            "relay_framing": self.relay_framing,
            "direction": self.direction,
        }


class Registry:
    """Messages in creation order and every callback attempt. Safe to read from other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: dict[str, StoredMessage] = {}
        self.callbacks: list[dict[str, Any]] = []

    def add(self, message: StoredMessage) -> None:
        with self._lock:
            self.messages[message.sid] = message

    def get(self, sid: str) -> StoredMessage | None:
        return self.messages.get(sid)

    def all(self, service: str | None = None) -> list[StoredMessage]:
        with self._lock:
            return [m for m in self.messages.values() if service is None or m.service == service]

    def record_callback(self, attempt: dict[str, Any]) -> None:
        with self._lock:
            self.callbacks.append(attempt)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.callbacks.clear()
