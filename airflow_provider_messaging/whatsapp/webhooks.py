"""What Meta POSTs to a WhatsApp webhook: checking ``X-Hub-Signature-256``, and reading status
changes and inbound messages out of every entry and change."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.events import InboundMessage, MalformedPayload, StatusEvent, number_or, text_or_none
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


@dataclass
class Webhook:
    """What one POST held: the events read, and each one skipped with the reason (an event in a
    shape Meta does not send is skipped on its own; the events beside it are kept)."""

    statuses: list[StatusEvent] = field(default_factory=list)
    inbound: list[InboundMessage] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _whatsapp_values(body: Any, skipped: list[str]) -> Iterator[Mapping[str, Any]]:
    if not isinstance(body, Mapping) or not isinstance(body.get("entry"), list):
        raise MalformedPayload("expected a WhatsApp webhook envelope with an 'entry' list")
    for e, entry in enumerate(body["entry"]):
        changes = _mapping(entry).get("changes")
        if not isinstance(entry, Mapping) or not isinstance(changes, list | None):
            skipped.append(f"entry {e}: not an object with a 'changes' list")
            continue
        for c, change in enumerate(changes or []):
            if not isinstance(change, Mapping):
                skipped.append(f"entry {e} change {c}: not an object")
            elif change.get("field") == "messages":
                if isinstance(change.get("value"), Mapping):
                    yield change["value"]
                else:
                    skipped.append(f"entry {e} change {c}: 'value' is not an object")


def _part(message: Mapping[str, Any], name: Any, *keys: str) -> str | None:
    """The first of ``keys`` that holds text in the object ``message[name]``."""
    part = _mapping(message.get(name)) if isinstance(name, str) else {}
    for key in keys:
        found = text_or_none(part.get(key))
        if found:
            return found
    return None


def _inbound_text(message: Mapping[str, Any]) -> str | None:
    kind = message.get("type")
    if kind == "text":
        return _part(message, "text", "body")
    if kind == "button":
        return _part(message, "button", "text", "payload")
    if kind == "interactive":
        interactive = _mapping(message.get("interactive"))
        reply = _mapping(interactive.get("button_reply")) or _mapping(interactive.get("list_reply"))
        return text_or_none(reply.get("title")) or text_or_none(reply.get("id"))
    if kind in ("image", "video", "document"):
        return _part(message, kind, "caption")
    if kind == "system":
        return _part(message, "system", "body")
    if kind == "reaction":
        return _part(message, "reaction", "emoji")
    return None


def _first_error(errors: Any) -> Mapping[str, Any]:
    """``errors`` is a list of objects; an object on its own is read as a list of one."""
    if isinstance(errors, Mapping):
        return errors
    return next((e for e in _listed(errors) if isinstance(e, Mapping)), {})


def status_event(status: Any, value: Mapping[str, Any], now: float) -> StatusEvent:
    """One entry of ``value.statuses``; MalformedPayload when it has no id or status text."""
    if not isinstance(status, Mapping):
        raise MalformedPayload("a status that is not an object")
    wamid, raw = text_or_none(status.get("id")), status.get("status")
    if not wamid:
        raise MalformedPayload("a status without an 'id'")
    if not isinstance(raw, str) or not raw:
        raise MalformedPayload(f"status of {wamid!r} has no 'status' text")
    error = _first_error(status.get("errors"))
    code = text_or_none(error.get("code"))
    timestamp = number_or(status.get("timestamp"), math.nan)
    group_key = group_event_key(status)
    return StatusEvent(
        service="whatsapp",
        message_id=wamid,
        state=STATUS_TO_STATE.get(raw.lower(), MessageState.SENT),
        raw_status=raw,
        timestamp=now if math.isnan(timestamp) else timestamp,
        recipient=status_recipient(status, value),
        error_code=code,
        error_title=(WHATSAPP_ERRORS.meaning(code) or text_or_none(error.get("title"))) if error else None,
        error_details=(_part(error, "error_data", "details") or text_or_none(error.get("message")))
        if error
        else None,
        correlation=text_or_none(status.get("biz_opaque_callback_data")),
        payload=dict(status),
        # without a timestamp of its own, a redelivery is still recognised as the same event
        same_event_key=group_key if group_key or not math.isnan(timestamp) else "untimed",
    )


def inbound_message(message: Any, value: Mapping[str, Any], now: float) -> InboundMessage:
    """One entry of ``value.messages``; MalformedPayload when it has no id."""
    if not isinstance(message, Mapping):
        raise MalformedPayload("a message that is not an object")
    wamid = text_or_none(message.get("id"))
    if not wamid:
        raise MalformedPayload("an inbound message without an 'id'")
    return InboundMessage(
        service="whatsapp",
        message_id=wamid,
        sender=inbound_sender(message, value),
        recipient=text_or_none(_mapping(value.get("metadata")).get("phone_number_id")),
        kind=text_or_none(message.get("type")) or "unknown",
        text=_inbound_text(message),
        timestamp=number_or(message.get("timestamp"), now),
        context_id=_part(message, "context", "id"),
        payload=dict(message),
        details=inbound_details(message, value),
    )


def read_webhook(body: Any) -> Webhook:
    """Every status and inbound message in every entry and change of a Cloud API webhook; what
    cannot be read is skipped with its reason. MalformedPayload only when ``body`` is not a
    webhook envelope at all."""
    found = Webhook()
    now = time.time()
    for value in _whatsapp_values(body, found.skipped):
        for kind, items, read in (
            ("status", value.get("statuses"), status_event),
            ("message", value.get("messages"), inbound_message),
        ):
            if items is not None and not isinstance(items, list):
                found.skipped.append(
                    f"'{kind}es' is not a list" if kind == "status" else "'messages' is not a list"
                )
                continue
            for i, item in enumerate(items or []):
                try:
                    event = read(item, value, now)
                except MalformedPayload as exc:
                    found.skipped.append(f"{kind} {i}: {exc}")
                    continue
                except Exception as exc:  # a shape nobody foresaw: skip this event, keep the others
                    found.skipped.append(f"{kind} {i}: unreadable ({type(exc).__name__})")
                    continue
                (found.statuses if kind == "status" else found.inbound).append(event)  # type: ignore[arg-type]
    return found


def parse_webhook(body: Any) -> tuple[list[StatusEvent], list[InboundMessage]]:
    """Every status and inbound message of a Cloud API webhook (what cannot be read is left out;
    ``read_webhook`` says what and why)."""
    found = read_webhook(body)
    return found.statuses, found.inbound


# -- who: phone numbers, business-scoped user ids, usernames, groups ----------------------------
# A status or message names its user by phone number (``recipient_id``, ``from``), by BSUID
# (``recipient_user_id``, ``from_user_id``) or both; the value's ``contacts`` (current shape, not
# on failed statuses nor in deliveries before 2026) add the profile, the username and the ids.


def _contact(value: Mapping[str, Any], phone: Any, user_id: Any) -> Mapping[str, Any]:
    contacts = [c for c in _listed(value.get("contacts")) if isinstance(c, Mapping)]
    for contact in contacts:
        if (phone and contact.get("wa_id") == phone) or (user_id and contact.get("user_id") == user_id):
            return contact
    return contacts[0] if len(contacts) == 1 else {}


def status_recipient(status: Mapping[str, Any], value: Mapping[str, Any]) -> str | None:
    """The phone number when Meta gives one, else the BSUID (the group id for a group message)."""
    found = text_or_none(status.get("recipient_id")) or text_or_none(status.get("recipient_user_id"))
    if found:
        return found
    contact = _contact(value, None, None)
    return text_or_none(contact.get("wa_id")) or text_or_none(contact.get("user_id")) or None


def group_event_key(status: Mapping[str, Any]) -> str | None:
    """A group message has one status per participant: each participant's receipt is an event."""
    if status.get("recipient_type") != "group":
        return None
    participant = text_or_none(status.get("recipient_participant_id")) or text_or_none(
        status.get("recipient_participant_user_id")
    )
    return f"{text_or_none(status.get('timestamp'))}|{participant}"


def inbound_sender(message: Mapping[str, Any], value: Mapping[str, Any]) -> str:
    """The phone number when the user shares it, else their BSUID."""
    found = text_or_none(message.get("from"))
    if found:
        return found
    found = text_or_none(message.get("from_user_id")) or text_or_none(
        _contact(value, None, None).get("user_id")
    )
    return found or ""


def inbound_details(message: Mapping[str, Any], value: Mapping[str, Any]) -> dict[str, Any]:
    """What an inbound message says beyond text: the user's ids and username, a file, a system notice."""
    contact = _contact(value, message.get("from"), message.get("from_user_id"))
    profile = _mapping(contact.get("profile"))

    def first(*found: Any) -> str | None:
        return next((t for t in map(text_or_none, found) if t), None)

    details: dict[str, Any] = {
        "wa_id": first(message.get("from"), contact.get("wa_id")),
        "user_id": first(message.get("from_user_id"), contact.get("user_id")),
        "parent_user_id": first(message.get("from_parent_user_id"), contact.get("parent_user_id")),
        "username": first(profile.get("username")),
        "name": first(profile.get("name")),
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
    if not header or not app_secret or not header.isascii():  # never a valid signature; compare_digest
        return False  # raises on non-ASCII text
    if hmac.compare_digest(header, signature(app_secret, raw_body)):
        return True
    try:
        escaped = _escape_non_ascii(raw_body)
    except UnicodeDecodeError:
        return False
    return escaped != raw_body and hmac.compare_digest(header, signature(app_secret, escaped))
