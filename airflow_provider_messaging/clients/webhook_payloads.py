"""Parsing what the services POST to a webhook into status events and inbound messages."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from ..core.events import InboundMessage, StatusEvent
from ..core.signalwire_codes import SIGNALWIRE_ERROR_CODES
from ..core.states import from_signalwire, from_whatsapp
from ..core.whatsapp_codes import WHATSAPP_ERROR_CODES


class MalformedPayload(ValueError):
    """The body is not what the service sends; answered with HTTP 400."""


def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _whatsapp_values(body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    if not isinstance(body, Mapping) or not isinstance(body.get("entry"), list):
        raise MalformedPayload("expected a WhatsApp webhook envelope with an 'entry' list")
    for entry in body["entry"]:
        for change in (entry or {}).get("changes") or []:
            if change.get("field") == "messages" and isinstance(change.get("value"), dict):
                yield change["value"]


def _inbound_text(message: Mapping[str, Any]) -> str | None:
    kind = message.get("type")
    if kind == "text":
        return (message.get("text") or {}).get("body")
    if kind == "button":
        button = message.get("button") or {}
        return button.get("text") or button.get("payload")
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        return reply.get("title") or reply.get("id")
    if kind in ("image", "video", "document"):
        return (message.get(kind) or {}).get("caption")
    if kind == "reaction":
        return (message.get("reaction") or {}).get("emoji")
    return None


def parse_whatsapp_webhook(body: Mapping[str, Any]) -> tuple[list[StatusEvent], list[InboundMessage]]:
    """Every status and inbound message in every entry and change of a Cloud API webhook."""
    statuses: list[StatusEvent] = []
    inbound: list[InboundMessage] = []
    now = time.time()
    for value in _whatsapp_values(body):
        business = (value.get("metadata") or {}).get("phone_number_id")
        for status in value.get("statuses") or []:
            if not status.get("id") or not status.get("status"):
                raise MalformedPayload("a status without 'id' or 'status'")
            error = (status.get("errors") or [{}])[0]
            code = error.get("code")
            known = WHATSAPP_ERROR_CODES.get(int(code)) if str(code or "").isdigit() else None
            statuses.append(
                StatusEvent(
                    service="whatsapp",
                    message_id=str(status["id"]),
                    state=from_whatsapp(status["status"]),
                    raw_status=str(status["status"]),
                    timestamp=_float(status.get("timestamp"), now),
                    recipient=status.get("recipient_id") or status.get("recipient_user_id"),
                    error_code=None if code is None else str(code),
                    error_title=(known[0] if known else error.get("title")) if error else None,
                    error_details=((error.get("error_data") or {}).get("details") or error.get("message"))
                    if error
                    else None,
                    correlation=status.get("biz_opaque_callback_data"),
                    payload=dict(status),
                )
            )
        for message in value.get("messages") or []:
            if not message.get("id"):
                raise MalformedPayload("an inbound message without 'id'")
            inbound.append(
                InboundMessage(
                    service="whatsapp",
                    message_id=str(message["id"]),
                    sender=str(message.get("from") or message.get("from_user_id") or ""),
                    recipient=business,
                    kind=str(message.get("type") or "unknown"),
                    text=_inbound_text(message),
                    timestamp=_float(message.get("timestamp"), now),
                    context_id=(message.get("context") or {}).get("id"),
                    payload=dict(message),
                )
            )
    return statuses, inbound


def parse_signalwire_callback(fields: Mapping[str, str]) -> StatusEvent | InboundMessage:
    """A Compatibility status callback (or inbound-SMS webhook) from its form or JSON fields."""
    sid = fields.get("MessageSid") or fields.get("SmsSid")
    status = fields.get("MessageStatus") or fields.get("SmsStatus")
    if not sid or not status:
        raise MalformedPayload("expected MessageSid and MessageStatus fields")
    now = time.time()
    if status.lower() in ("received", "receiving") or fields.get("Direction") == "inbound":
        return InboundMessage(
            service="signalwire",
            message_id=sid,
            sender=fields.get("From", ""),
            recipient=fields.get("To"),
            kind="mms" if int(_float(fields.get("NumMedia"), 0)) else "sms",
            text=fields.get("Body"),
            timestamp=now,
            payload=dict(fields),
        )
    code = fields.get("ErrorCode") or None
    return StatusEvent(
        service="signalwire",
        message_id=sid,
        state=from_signalwire(status),
        raw_status=status,
        timestamp=now,
        recipient=fields.get("To"),
        error_code=code,
        error_title=SIGNALWIRE_ERROR_CODES.get(code or "", (None, None))[0],
        error_details=fields.get("ErrorMessage"),
        payload=dict(fields),
        same_event_key="callback",
    )
