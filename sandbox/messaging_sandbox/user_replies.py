"""Playing the person at the other end: tapping a button of a WhatsApp message the sandbox accepted,
and texting a SignalWire number whose messaging webhook points somewhere.

- ``POST /_sandbox/whatsapp/tap`` ``{"to": <recipient>, "title": "Approve"}`` (or ``"message_id"``
  instead of ``"to"``; optional ``"from"``: someone else taps, e.g. on a forwarded message) finds
  the newest message to that recipient with a reply button, list row or template quick reply of that
  title and sends the webhook a tap makes: ``interactive`` with ``button_reply`` / ``list_reply``
  (id and title), or for a template ``button`` with the quick reply's ``payload`` and ``text``; its
  ``context.id`` is the tapped message.
- ``POST /_sandbox/signalwire/sms`` ``{"from": ..., "to": <your number>, "text": ..., "url": ...}``
  delivers an inbound SMS the way SignalWire calls a number's messaging webhook: a form POST with
  ``MessageSid``, ``SmsSid``, ``AccountSid``, ``From``, ``To``, ``Body``, ``NumMedia``,
  ``NumSegments``, ``SmsStatus=received`` and ``ApiVersion``, signed with ``X-SignalWire-Signature``.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, HTTPException, Request

from .config import SandboxConfig
from .registry import Registry, StoredMessage
from .signing import signalwire_signature
from .whatsapp_cloud import WhatsAppCloud

BUSINESS_NUMBER = "15550001111"  # the sandbox business number's display digits


def _buttons(message: StoredMessage, templates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What can be tapped on ``message``, each as the ``interactive``/``button`` object a tap sends."""
    payload = message.payload
    if payload.get("type") == "interactive":
        interactive = payload.get("interactive") or {}
        action = interactive.get("action") or {}
        if interactive.get("type") == "button":
            return [{"type": "button_reply", "button_reply": {"id": b["reply"]["id"], "title": b["reply"]["title"]}}
                    for b in action.get("buttons") or []]  # fmt: skip
        if interactive.get("type") == "list":
            return [{"type": "list_reply", "list_reply": dict(row)}
                    for section in action.get("sections") or [] for row in section.get("rows") or []]  # fmt: skip
    if payload.get("type") == "template":
        sent = payload.get("template") or {}
        template = next((t for t in templates if t["name"] == sent.get("name")
                         and t["language"] == (sent.get("language") or {}).get("code")), None)  # fmt: skip
        texts = [b.get("text") for c in (template or {}).get("components") or [] if c.get("type") == "BUTTONS"
                 for b in c.get("buttons") or []]  # fmt: skip
        replies = []
        for component in sent.get("components") or []:
            if component.get("type") == "button" and component.get("sub_type") == "quick_reply":
                index = int(component.get("index", 0))
                payload_value = (component.get("parameters") or [{}])[0].get("payload")
                text = texts[index] if index < len(texts) else None
                replies.append({"button": {"payload": payload_value, "text": text}})
        return replies
    return []


def _title(tap: dict[str, Any]) -> str | None:
    reply = tap.get("button_reply") or tap.get("list_reply") or tap.get("button") or {}
    return reply.get("title") or reply.get("text")


def replies_router(config: SandboxConfig, registry: Registry, whatsapp: WhatsAppCloud) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])

    @router.post("/whatsapp/tap")
    async def tap(request: Request) -> dict[str, Any]:
        """Play a user tapping a button of a message they got: the signed webhook goes to the receiver."""
        data = await request.json()
        if (
            not isinstance(data, dict)
            or not data.get("title")
            or not (data.get("to") or data.get("message_id"))
        ):
            raise HTTPException(400, "give 'title' (the button's) and 'to' (the recipient) or 'message_id'")
        to = str(data.get("to") or "").lstrip("+")
        candidates = [m for m in reversed(registry.all("whatsapp"))
                      if (m.sid == data.get("message_id")) or (to and m.to.lstrip("+") == to)]  # fmt: skip
        for message in candidates:
            found = [t for t in _buttons(message, whatsapp.templates) if _title(t) == data["title"]]
            if found:
                break
        else:
            raise HTTPException(404, f"no message to {data.get('to') or data.get('message_id')} has a button "
                                     f"titled {data['title']!r}")  # fmt: skip
        sender = str(data.get("from") or message.to).lstrip("+")
        wamid = "wamid." + secrets.token_urlsafe(24)
        inbound: dict[str, Any] = {"from": sender, "id": wamid, "timestamp": str(int(time.time())),
                                   "context": {"from": BUSINESS_NUMBER, "id": message.sid}}  # fmt: skip
        if "button" in found[0]:
            inbound.update({"type": "button", **found[0]})
        else:
            inbound.update({"type": "interactive", "interactive": found[0]})
        value = {"messaging_product": "whatsapp", "metadata": whatsapp._metadata(),
                 "contacts": [{"profile": {"name": "Sandbox User"}, "wa_id": sender}], "messages": [inbound]}  # fmt: skip
        await whatsapp.post_webhook(value)
        return {"id": wamid, "message": inbound}

    @router.post("/signalwire/sms")
    async def sms(request: Request) -> dict[str, Any]:
        """Play a user texting your number: SignalWire POSTs the inbound SMS to the number's webhook."""
        data = await request.json()
        if (
            not isinstance(data, dict)
            or not all(data.get(k) for k in ("from", "to", "url"))
            or "text" not in data
        ):
            raise HTTPException(
                400, "give 'from', 'to' (your number), 'text' and 'url' (the messaging webhook)"
            )
        sid = str(uuid.uuid4())
        params = [("MessageSid", sid), ("SmsSid", sid), ("AccountSid", config.signalwire_project),
                  ("From", str(data["from"])), ("To", str(data["to"])), ("Body", str(data["text"])),
                  ("NumMedia", "0"), ("NumSegments", "1"), ("SmsStatus", "received"), ("ApiVersion", "2010-04-01")]  # fmt: skip
        url = str(data["url"])
        signature = signalwire_signature(config.signing_key, url, params)
        attempt: dict[str, Any] = {"url": url, "sid": sid, "status": "received", "params": dict(params)}
        try:
            async with httpx.AsyncClient(timeout=5.0) as http:
                response = await http.post(url, content=urlencode(params).encode(), headers={
                    "Content-Type": "application/x-www-form-urlencoded", "X-SignalWire-Signature": signature,
                    "X-Twilio-Signature": signature, "User-Agent": "SignalWire-Sandbox"})  # fmt: skip
            attempt["response_status"] = response.status_code
        except httpx.HTTPError as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"
        registry.record_callback(attempt)
        return {"id": sid, "response_status": attempt.get("response_status"), "error": attempt.get("error")}

    return router
