"""SignalWire's Compatibility (LaML) Messages API, as the real service answers it.

Create, fetch and list under ``/api/laml/2010-04-01/Accounts/{project}``, HTTP Basic auth, the
documented validation codes and error bodies, statuses that progress over time, and status
callbacks signed with ``X-SignalWire-Signature``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .background import Background
from .config import SandboxConfig
from .magic import SLOW_FACTOR, outcome_for
from .registry import Registry, StoredMessage
from .signalwire_errors import delivery_error
from .signalwire_rules import BODY_LIMIT, E164, MEDIA_LIMIT, segments
from .signing import signalwire_signature

log = logging.getLogger(__name__)

API_ROOT = "/api/laml/2010-04-01"
MORE_INFO = "https://signalwire.com/docs/compatibility-api/reference/errors"


def compat_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The Compatibility API's error body: all four keys, always."""
    body = {"code": code, "message": message, "more_info": MORE_INFO, "status": status}
    return JSONResponse(body, status_code=status, headers=headers)


def _rfc2822(ts: float | None) -> str | None:
    if ts is None:
        return None
    return email.utils.format_datetime(datetime.fromtimestamp(ts, timezone.utc)).replace("-0000", "+0000")


def resource(message: StoredMessage, project: str) -> dict[str, Any]:
    uri = f"{API_ROOT}/Accounts/{project}/Messages/{message.sid}.json"
    return {
        "account_sid": project,
        "api_version": "2010-04-01",
        "body": message.body,
        "num_segments": message.num_segments,
        "num_media": len(message.media),
        "date_created": _rfc2822(message.date_created),
        "date_sent": _rfc2822(message.date_sent),
        "date_updated": _rfc2822(message.date_updated),
        "direction": "outbound-api",
        "error_code": message.error_code,
        "error_message": message.error_message,
        "from": message.from_number,
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "to": message.to,
        "messaging_service_sid": None,
        "uri": uri,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
    }


def authenticated(request: Request, config: SandboxConfig, project: str | None = None) -> bool:
    """HTTP Basic with the Project ID and API token (and the Project ID in the path, if there is one)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return (
        user == config.signalwire_project and project in (None, user) and password == config.signalwire_token
    )


def _validate(form: list[tuple[str, str]]) -> JSONResponse | None:
    values: dict[str, str] = {}
    for key, value in form:
        values.setdefault(key, value)
    media = [v for k, v in form if k == "MediaUrl"]
    to, sender, body = values.get("To", ""), values.get("From", ""), values.get("Body")
    if not to:
        return compat_error(400, 21604, "A 'To' phone number is required.")
    if not E164.match(to):
        return compat_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not sender:
        return compat_error(400, 21603, "A 'From' phone number is required.")
    if not E164.match(sender):
        return compat_error(400, 21212, f"The 'From' number {sender} is not a valid phone number.")
    if not body and not media:
        return compat_error(400, 21602, "Message body is required.")
    if body and len(body) > BODY_LIMIT:
        return compat_error(
            400, 21617, f"The concatenated message body exceeds the {BODY_LIMIT} character limit."
        )
    if len(media) > MEDIA_LIMIT:
        return compat_error(400, 21623, f"Too many media URLs: at most {MEDIA_LIMIT} are allowed.")
    for url in media:
        if urlparse(url).scheme not in ("http", "https"):
            return compat_error(400, 21620, f"Invalid media URL: {url}")
    magic = outcome_for(to)
    if magic.outcome == "rejected":
        return compat_error(400, int(magic.error_code or 21610), "Attempt to send to unsubscribed recipient")
    return None


class SignalWireRest:
    """The routes plus the background work that moves messages along and posts callbacks."""

    def __init__(self, config: SandboxConfig, registry: Registry) -> None:
        self.config = config
        self.registry = registry
        self.background = Background()
        self.listeners: list[Callable[[StoredMessage], Awaitable[None]]] = []  # e.g. Relay state events

    def router(self) -> APIRouter:
        router = APIRouter(prefix=f"{API_ROOT}/Accounts/{{project}}")
        for suffix in (".json", ""):
            router.add_api_route(
                f"/Messages{suffix}", self.create, methods=["POST"], include_in_schema=not suffix
            )
            router.add_api_route(
                f"/Messages{suffix}", self.list, methods=["GET"], include_in_schema=not suffix
            )
            router.add_api_route(
                f"/Messages/{{sid}}{suffix}", self.fetch, methods=["GET"], include_in_schema=not suffix
            )
        return router

    def _unauthorized(self) -> JSONResponse:
        return compat_error(
            401,
            20003,
            "Authentication Error - invalid username",
            {"WWW-Authenticate": 'Basic realm="SignalWire"'},
        )

    async def create(self, project: str, request: Request) -> JSONResponse:
        if not authenticated(request, self.config, project):
            return self._unauthorized()
        form = parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        problem = _validate(form)
        if problem is not None:
            return problem
        values = dict(form)
        body = values.get("Body") or None
        now = time.time()
        message = StoredMessage(
            service="signalwire",
            sid=str(uuid.uuid4()),
            to=values["To"],
            from_number=values["From"],
            body=body,
            media=[v for k, v in form if k == "MediaUrl"],
            status="queued",
            status_callback=values.get("StatusCallback") or None,
            num_segments=max(segments(body or ""), 1),
            date_created=now,
            date_updated=now,
        )
        message.history.append({"status": "queued", "at": now})
        self.registry.add(message)
        self.start(message)
        return JSONResponse(resource(message, project), status_code=201)

    async def fetch(self, project: str, sid: str, request: Request) -> JSONResponse:
        if not authenticated(request, self.config, project):
            return self._unauthorized()
        message = self.registry.get(sid)
        if message is None or message.service != "signalwire" or message.channel != "compatibility":
            return compat_error(
                404,
                20404,
                f"The requested resource /2010-04-01/Accounts/{project}/Messages/{sid}.json was not found",
            )
        return JSONResponse(resource(message, project))

    async def list(self, project: str, request: Request) -> JSONResponse:
        if not authenticated(request, self.config, project):
            return self._unauthorized()
        q = request.query_params
        try:
            size = int(q.get("PageSize", "50"))
            page = int(q.get("Page", "0"))
        except ValueError:
            return compat_error(400, 54454, "PageSize and Page must be integers.")
        if not 1 <= size <= 1000:
            return compat_error(400, 54454, f"Invalid PageSize {size}: use 1 to 1000.")
        token = q.get("PageToken")
        if page > 0 and not (token or "").startswith(("PA", "PB")):
            return compat_error(400, 54453, "Page > 0 requires a valid PageToken.")
        filters = {k: q[k] for k in ("To", "From", "Status") if q.get(k)}
        rows = [
            m
            for m in reversed(self.registry.all("signalwire"))
            if m.channel == "compatibility"
            and all(
                getattr(m, {"To": "to", "From": "from_number", "Status": "status"}[k]) == v
                for k, v in filters.items()
            )
        ]
        chunk = rows[page * size : (page + 1) * size]
        base = f"{API_ROOT}/Accounts/{project}/Messages.json"

        def page_uri(p: int) -> str:
            params: dict[str, Any] = {**filters, "PageSize": size, "Page": p}
            if p > 0:
                params["PageToken"] = f"PA{rows[p * size - 1].sid}" if p * size <= len(rows) else "PA"
            return f"{base}?{urlencode(params)}"

        has_next = (page + 1) * size < len(rows)
        return JSONResponse(
            {
                "uri": page_uri(page),
                "first_page_uri": page_uri(0),
                "next_page_uri": page_uri(page + 1) if has_next else None,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "page": page,
                "page_size": size,
                "messages": [resource(m, project) for m in chunk],
            }
        )

    # -- background work -------------------------------------------------------------------

    def start(self, message: StoredMessage) -> None:
        """Move a newly accepted message along its magic-number outcome (every API alike)."""
        self.background.spawn(self._progress(message))

    async def _progress(self, message: StoredMessage) -> None:
        magic = outcome_for(message.to)
        factor = SLOW_FACTOR if magic.outcome == "slow" else 1.0
        if message.channel != "compatibility":  # Relay and the native API report the hand-over too
            await asyncio.sleep(self.config.sent_delay * factor / 2)
            await self._change(message, "initiated")
        await asyncio.sleep(self.config.sent_delay * factor)
        if magic.outcome == "failed":
            await self._change(message, "failed", magic.error_code)
            return
        await self._change(message, "sent")
        if magic.outcome == "never_delivered":
            return
        await asyncio.sleep(self.config.delivered_delay * factor)
        if magic.outcome == "undelivered":
            await self._change(message, "undelivered", magic.error_code)
        else:
            await self._change(message, "delivered")

    async def _change(self, message: StoredMessage, status: str, error_code: str | None = None) -> None:
        message.set_status(status, *delivery_error(message.channel, error_code))
        for listener in self.listeners:
            await listener(message)
        if message.status_callback and message.channel == "compatibility":
            await self._post_callback(message)

    async def _post_callback(self, message: StoredMessage) -> None:
        url = message.status_callback or ""
        params = [
            ("MessageSid", message.sid),
            ("MessageStatus", message.status),
            ("AccountSid", self.config.signalwire_project),
            ("From", message.from_number),
            ("To", message.to),
            ("Body", message.body or ""),
            ("NumMedia", str(len(message.media))),
            ("NumSegments", str(message.num_segments)),
        ]
        if message.error_code:
            params.append(("ErrorCode", message.error_code))
        signature = signalwire_signature(self.config.signing_key, url, params)
        attempt: dict[str, Any] = {
            "url": url,
            "sid": message.sid,
            "status": message.status,
            "params": dict(params),
        }
        try:
            response = await self.background.http.post(
                url,
                content=urlencode(params).encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-SignalWire-Signature": signature,
                    "X-Twilio-Signature": signature,
                    "User-Agent": "SignalWire-Sandbox",
                },
            )
            attempt["response_status"] = response.status_code
        except httpx.HTTPError as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"
            log.warning("status callback to %s failed: %s", url, attempt["error"])
        self.registry.record_callback(attempt)

    def cancel_all(self) -> None:
        self.background.cancel_all()

    async def aclose(self) -> None:
        await self.background.aclose()
