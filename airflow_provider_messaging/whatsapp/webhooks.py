"""What Meta POSTs to a WhatsApp webhook: checking ``X-Hub-Signature-256``, and reading status
changes and inbound messages out of every entry and change."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterator, Mapping
from typing import Any

from ..core.events import InboundMessage, MalformedPayload, StatusEvent, number_or
from ..core.states import MessageState
from .errors import WHATSAPP_ERRORS

MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
STATUS_TO_STATE: dict[str, MessageState] = {
    "sent": MessageState.SENT,
    "delivered": MessageState.DELIVERED,
    "read": MessageState.READ,
    "played": MessageState.READ,
    "failed": MessageState.FAILED,
}


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
    if kind == "system":
        return (message.get("system") or {}).get("body")
    if kind == "reaction":
        return (message.get("reaction") or {}).get("emoji")
    return None


def parse_webhook(body: Mapping[str, Any]) -> tuple[list[StatusEvent], list[InboundMessage]]:
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
            statuses.append(
                StatusEvent(
                    service="whatsapp",
                    message_id=str(status["id"]),
                    state=STATUS_TO_STATE.get(str(status["status"]).lower(), MessageState.SENT),
                    raw_status=str(status["status"]),
                    timestamp=number_or(status.get("timestamp"), now),
                    recipient=status_recipient(status, value),
                    error_code=None if code is None else str(code),
                    error_title=(WHATSAPP_ERRORS.meaning(code) or error.get("title")) if error else None,
                    error_details=((error.get("error_data") or {}).get("details") or error.get("message"))
                    if error
                    else None,
                    correlation=status.get("biz_opaque_callback_data"),
                    payload=dict(status),
                    same_event_key=group_event_key(status),
                )
            )
        for message in value.get("messages") or []:
            if not message.get("id"):
                raise MalformedPayload("an inbound message without 'id'")
            inbound.append(
                InboundMessage(
                    service="whatsapp",
                    message_id=str(message["id"]),
                    sender=inbound_sender(message, value),
                    recipient=business,
                    kind=str(message.get("type") or "unknown"),
                    text=_inbound_text(message),
                    timestamp=number_or(message.get("timestamp"), now),
                    context_id=(message.get("context") or {}).get("id"),
                    payload=dict(message),
                    details=inbound_details(message, value),
                )
            )
    return statuses, inbound


# -- who: phone numbers, business-scoped user ids, usernames, groups ----------------------------
# A status or message names its user by phone number (``recipient_id``, ``from``), by BSUID
# (``recipient_user_id``, ``from_user_id``) or both; the value's ``contacts`` (current shape, not
# on failed statuses nor in deliveries before 2026) add the profile, the username and the ids.


def _contact(value: Mapping[str, Any], phone: Any, user_id: Any) -> Mapping[str, Any]:
    contacts = [c for c in value.get("contacts") or [] if isinstance(c, Mapping)]
    for contact in contacts:
        if (phone and contact.get("wa_id") == phone) or (user_id and contact.get("user_id") == user_id):
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def status_recipient(status: Mapping[str, Any], value: Mapping[str, Any]) -> str | None:
    """The phone number when Meta gives one, else the BSUID (the group id for a group message)."""
    found = status.get("recipient_id") or status.get("recipient_user_id")
    if found:
        return str(found)
    contact = _contact(value, None, None)
    return contact.get("wa_id") or contact.get("user_id") or None


def group_event_key(status: Mapping[str, Any]) -> str | None:
    """A group message has one status per participant: each participant's receipt is an event."""
    if status.get("recipient_type") != "group":
        return None
    participant = status.get("recipient_participant_id") or status.get("recipient_participant_user_id")
    return f"{status.get('timestamp')}|{participant}"


def inbound_sender(message: Mapping[str, Any], value: Mapping[str, Any]) -> str:
    """The phone number when the user shares it, else their BSUID."""
    if message.get("from"):
        return str(message["from"])
    found = message.get("from_user_id") or _contact(value, None, None).get("user_id")
    return str(found or "")


def inbound_details(message: Mapping[str, Any], value: Mapping[str, Any]) -> dict[str, Any]:
    """What an inbound message says beyond text: the user's ids and username, a file, a system notice."""
    contact = _contact(value, message.get("from"), message.get("from_user_id"))
    found = contact.get("profile")
    profile: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    details: dict[str, Any] = {
        "wa_id": message.get("from") or contact.get("wa_id"),
        "user_id": message.get("from_user_id") or contact.get("user_id"),
        "parent_user_id": message.get("from_parent_user_id") or contact.get("parent_user_id"),
        "username": profile.get("username"),
        "name": profile.get("name"),
    }
    kind = message.get("type")
    body = message.get(kind) if isinstance(kind, str) else None
    if kind in MEDIA_TYPES and isinstance(body, Mapping) and body.get("id"):
        details["media"] = {k: body[k] for k in ("id", "mime_type", "sha256", "filename", "caption", "voice",
                                                  "animated") if body.get(k) is not None}  # fmt: skip
    if kind == "system" and isinstance(body, Mapping):
        # user_changed_number / user_changed_user_id: the user's new number or new BSUID
        details["system"] = {
            k: body[k] for k in ("type", "wa_id", "user_id", "parent_user_id") if body.get(k)
        }
    return {k: v for k, v in details.items() if v}


def signature(app_secret: str, raw_body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def _escape_non_ascii(raw_body: bytes) -> bytes:
    """Meta's documented form: every non-ASCII character as a lowercase ``\\uXXXX`` (UTF-16 units)."""
    text = raw_body.decode("utf-8")
    out = []
    for ch in text:
        if ord(ch) < 128:
            out.append(ch)
        else:
            encoded = ch.encode("utf-16-be")
            out.extend(
                f"\\u{int.from_bytes(encoded[i : i + 2], 'big'):04x}" for i in range(0, len(encoded), 2)
            )
    return "".join(out).encode()


def verify_signature(app_secret: str, header: str | None, raw_body: bytes) -> bool:
    """Check ``X-Hub-Signature-256`` over the raw bytes, then over the escaped-unicode form."""
    if not header or not app_secret:
        return False
    if hmac.compare_digest(header, signature(app_secret, raw_body)):
        return True
    try:
        escaped = _escape_non_ascii(raw_body)
    except UnicodeDecodeError:
        return False
    return escaped != raw_body and hmac.compare_digest(header, signature(app_secret, escaped))
