"""Why a SignalWire message failed after it was accepted: the code and the text SignalWire shows.

These are the codes that turn up later in a Compatibility message's ``error_code`` (and its status
callbacks' ``ErrorCode``), titled as SignalWire's messaging troubleshooting guide titles them. The
resource's ``error_message`` and a Relay state event's ``reason`` carry the text.

The native Messaging API names the same failures with the string codes of SignalWire's REST error
code reference (``unreachable_destination_handset``, ``carrier_violation``); Relay messages carry
the text without a code (the message log's documentation: "Some Relay messages may have an
``error_message`` without an ``error_code``").
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


NATIVE_CODES: dict[str, str] = {
    "30003": "unreachable_destination_handset",
    "30005": "unknown_destination_handset",
    "30007": "carrier_violation",
    "30008": "unknown_error",
}


def delivery_error(channel: str, code: str | None) -> tuple[str | None, str | None]:
    """The ``(error_code, error_message)`` a message sent through ``channel`` shows for ``code``."""
    text = delivery_error_text(code)
    if channel == "relay":
        return None, text
    if channel == "messaging" and code:
        return NATIVE_CODES.get(code, code), text
    return code, text
