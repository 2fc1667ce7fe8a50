"""The ``value`` of a ``messages`` webhook change, in the current documented shape.

Status webhooks (Meta's status-messages webhook reference and its business-scoped user id page):
``statuses[]`` beside ``contacts[]`` for the recipient (``wa_id`` when the message went to the
phone number, ``user_id``, ``parent_user_id`` for parent ids, ``profile.username`` on delivered
and read). A failed status carries ``errors[]`` and no ``contacts``, ``pricing`` or
``conversation``. ``recipient_id`` names the phone number the message went to (absent when it
went to a BSUID); ``recipient_user_id`` the BSUID. Pricing is per message since 2025-07-01
(``pricing_model: PMP``, ``type`` regular or free_customer_service); ``conversation`` is optional
under it and given on sent and delivered. A voice note (audio with ``voice: true``) gets
``played`` once it is played.

Inbound messages carry ``from`` when the user's number may be shown, ``from_user_id`` always, and
``contacts[]`` with the profile (``username`` for users who have one).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

from .whatsapp_errors import status_error
from .whatsapp_users import Addressee, User


def _pricing(payload: dict[str, Any], categories: dict[str, str]) -> tuple[str, str]:
    """(category, type): a template is billed by its category; other messages answer the user
    inside the customer service window, which is free."""
    template = payload.get("template") if payload.get("type") == "template" else None
    if isinstance(template, dict):
        return categories.get(str(template.get("name")), "utility"), "regular"
    return "service", "free_customer_service"


def status_value(
    metadata: dict[str, str],
    sid: str,
    payload: dict[str, Any],
    to: Addressee,
    status: str,
    ts: float,
    code: int | None,
    categories: dict[str, str],
) -> dict[str, Any]:
    item: dict[str, Any] = {"id": sid, "status": status, "timestamp": str(int(ts))}
    if to.by_phone:
        item["recipient_id"] = to.user.phone
    if not (to.by_phone and code is not None):  # a failed status to a phone number omits it
        item["recipient_user_id"] = to.given if not to.by_phone else to.user.user_id
        if to.user.parent_user_id:
            item["recipient_parent_user_id"] = to.user.parent_user_id
    if payload.get("biz_opaque_callback_data"):
        item["biz_opaque_callback_data"] = payload["biz_opaque_callback_data"]
    value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": metadata}
    if code is not None:
        item["errors"] = [status_error(code)]
    else:
        category, kind = _pricing(payload, categories)
        if status in ("sent", "delivered"):
            conversation: dict[str, Any] = {"id": hashlib.sha256(f"{to.key}|{category}".encode()).hexdigest()[:32],
                                            "origin": {"type": category}}  # fmt: skip
            if status == "sent":
                conversation["expiration_timestamp"] = str(int(ts) + 24 * 3600)
            item["conversation"] = conversation
        item["pricing"] = {
            "billable": kind == "regular",
            "pricing_model": "PMP",
            "type": kind,
            "category": category,
        }
        value["contacts"] = [
            to.user.contact(phone_shared=to.by_phone, with_username=status in ("delivered", "read"))
        ]
    value["statuses"] = [item]
    return value


def inbound_value(
    metadata: dict[str, str],
    user: User,
    phone_shown: bool,
    content: dict[str, Any],
    context_id: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """A user writes to the business: ``content`` is ``{"type": ..., <type>: {...}}``."""
    wamid = "wamid." + secrets.token_urlsafe(24)
    message: dict[str, Any] = {}
    if phone_shown and user.phone:
        message["from"] = user.phone
    message["from_user_id"] = user.user_id
    if user.parent_user_id:
        message["from_parent_user_id"] = user.parent_user_id
    message.update({"id": wamid, "timestamp": str(int(time.time())), **content})
    if context_id:
        message["context"] = {"from": metadata["display_phone_number"], "id": context_id}
    contact = user.contact(phone_shared=phone_shown, with_username=True)
    return wamid, {
        "messaging_product": "whatsapp",
        "metadata": metadata,
        "contacts": [contact],
        "messages": [message],
    }
