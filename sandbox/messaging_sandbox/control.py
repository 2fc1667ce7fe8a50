"""The control API under ``/_sandbox/``: what was accepted, faults to inject, reset."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from .faults import FaultKnobs
from .magic import MAGIC_NUMBERS
from .registry import Registry
from .signalwire_relay import RelayServer
from .signalwire_rest import SignalWireRest
from .whatsapp_cloud import WhatsAppCloud


def control_router(
    registry: Registry, signalwire: SignalWireRest, whatsapp: WhatsAppCloud, state: Any, relay: RelayServer
) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/messages")
    async def messages(to: str | None = None, service: str | None = None) -> dict[str, Any]:
        rows = [m.control_view() for m in registry.all(service) if to is None or m.to == to]
        return {"messages": rows}

    @router.get("/messages/count")
    async def message_count(service: str | None = None) -> dict[str, int]:
        """How many messages were accepted (cheap to poll during a long broadcast)."""
        return {"count": len(registry.all(service))}

    @router.get("/callbacks")
    async def callbacks() -> dict[str, Any]:
        return {"callbacks": list(registry.callbacks)}

    @router.get("/magic-numbers")
    async def magic_numbers() -> dict[str, Any]:
        return {"numbers": [m.__dict__ for m in MAGIC_NUMBERS]}

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        knobs: FaultKnobs = state.faults
        return knobs.as_dict()

    @router.put("/faults")
    async def put_faults(request: Request) -> dict[str, Any]:
        try:
            state.faults = FaultKnobs.from_dict(await request.json())
        except (TypeError, ValueError) as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        knobs: FaultKnobs = state.faults
        return knobs.as_dict()

    @router.put("/whatsapp/webhook-url")
    async def set_webhook_url(request: Request) -> dict[str, Any]:
        whatsapp.webhook_url = (await request.json()).get("url") or None
        return {"url": whatsapp.webhook_url}

    @router.get("/whatsapp/templates")
    async def templates() -> dict[str, Any]:
        return {"data": whatsapp.templates}

    @router.post("/whatsapp/templates")
    async def put_template(request: Request) -> dict[str, Any]:
        template = await request.json()
        if not isinstance(template, dict) or not {"name", "language", "status", "components"} <= set(
            template
        ):
            raise HTTPException(
                status_code=400, detail="a template needs name, language, status and components"
            )
        whatsapp.templates = [
            t
            for t in whatsapp.templates
            if (t["name"], t["language"]) != (template["name"], template["language"])
        ] + [template]
        return template

    @router.post("/whatsapp/inbound")
    async def inbound(request: Request) -> dict[str, Any]:
        """Play a user writing to the business: a signed webhook goes to the receiver.

        ``{"from": <number or BSUID>, "text": ...}``; a file: ``"media": {"type": "document",
        "mime_type": "application/pdf", "content_base64": ..., "filename": ...}`` (``text``, if
        given, is its caption)."""
        data = await request.json()
        media = data.get("media") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not data.get("from") or ("text" not in data and media is None):
            raise HTTPException(
                status_code=400, detail="give 'from' (the user's number or user id) and 'text' or 'media'"
            )
        if media is not None:
            try:
                media = {**media, "content": base64.b64decode(media["content_base64"], validate=True)}
                assert (
                    media["type"] in ("image", "audio", "video", "document", "sticker") and media["mime_type"]
                )
            except (KeyError, TypeError, ValueError, AssertionError):
                raise HTTPException(
                    status_code=400,
                    detail="media needs type, mime_type and content_base64 (and may have filename)",
                ) from None
        text = str(data["text"]) if data.get("text") is not None else None
        wamid, value = whatsapp.inbound_value(
            str(data["from"]), text, data.get("context_id"), data.get("button_id"), media
        )
        await whatsapp.post_webhook(value)
        return {"id": wamid}

    @router.get("/signalwire/relay/connections")
    async def relay_connections() -> dict[str, Any]:
        """Each Relay connection: its framing, session, contexts and events not yet acknowledged."""
        return {"connections": relay.connection_views()}

    @router.post("/signalwire/relay/drop")
    async def drop_relay(after_next_send: bool = False) -> dict[str, int]:
        """Close every Relay WebSocket now, as a network blip or a server restart would; or, with
        ``after_next_send=true``, accept the next ``messaging.send`` and close before answering it."""
        if after_next_send:
            relay.drop_after_next_send = True
            return {"dropped": 0}
        return {"dropped": await relay.drop_connections()}

    @router.post("/signalwire/inbound")
    async def signalwire_inbound(request: Request) -> dict[str, Any]:
        """Play a user texting your number: a Relay ``messaging.receive`` event on ``context``."""
        data = await request.json()
        if (
            not isinstance(data, dict)
            or not data.get("from")
            or "text" not in data
            or not data.get("context")
        ):
            raise HTTPException(
                status_code=400, detail="give 'from', 'text' and 'context' (and optionally 'to')"
            )
        sid = await relay.inbound(str(data["from"]), str(data.get("to") or "+15551230001"), str(data["text"]),
                                  str(data["context"]))  # fmt: skip
        return {"id": sid}

    @router.post("/reset")
    async def reset() -> dict[str, str]:
        whatsapp.cancel_all()
        whatsapp.media.clear()
        signalwire.cancel_all()
        registry.clear()
        relay.sessions.clear()
        state.faults = FaultKnobs()
        return {"status": "reset"}

    return router
