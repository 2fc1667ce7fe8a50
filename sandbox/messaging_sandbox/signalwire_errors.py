"""Why a SignalWire message failed after it was accepted: the code and the text SignalWire shows.

These are the codes that turn up later in a message's ``error_code`` (and its status callbacks'
``ErrorCode``), titled as SignalWire's messaging troubleshooting guide titles them. The resource's
``error_message`` and a Relay state event's ``reason`` carry the text.
"""

from __future__ import annotations

DELIVERY_ERRORS: dict[str, str] = {
    "30001": "Exceeded Validity Period",
    "30003": "Unreachable Destination Handset",
    "30004": "Carrier Responded as Undeliverable - Opt Out",
    "30005": "Unknown Destination Handset",
    "30006": "Landline or Unreachable Carrier",
    "30007": "Message Marked as Spam",
    "30008": "Unknown Error",
}


def delivery_error_text(code: str | None) -> str | None:
    """SignalWire's text for a delivery error code; ``None`` for no code or an unlisted one."""
    return DELIVERY_ERRORS.get(code) if code else None
