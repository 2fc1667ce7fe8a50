"""SignalWire's native Messaging API and its message logs, as the documentation describes them.

- ``POST /api/messaging/messages`` (JSON ``to``, ``from``, ``body``, ``media``, ``send_as_mms``,
  ``status_callback``, ``custom_variables``) -> ``201`` and the message; ``PATCH
  /api/messaging/messages/{id}`` with ``{"body": ""}`` redacts a message in a final state.
- ``GET /api/messaging/logs`` and ``GET /api/messaging/logs/{id}``: every SignalWire message the
  project sent or received, through whichever API (Compatibility: ``source`` ``laml``, ``type``
  ``laml_message``, ``url`` the resource; Relay: ``realtime_api``, ``relay_message``, ``url`` null).
  The documented ``source``/``type`` values name no third API, so messages sent through the native
  API are logged as ``realtime_api``/``relay_message`` here, with a null ``url`` (their
  ``message_uri`` is the log entry itself).
- Errors in the ``/api/*`` shape: ``422 {"errors": [{"type", "code", "message", "attribute",
  "url"}]}`` with the codes of SignalWire's REST error reference, and ``{"error": "Unauthorized"}``,
  ``{"error": "Not Found"}``, ``{"error": "Bad Request"}`` for 401, 404 and 400.
- Status callbacks: the documented JSON payload, POSTed on every status change, signed as JSON
  webhooks are (see :mod:`.signing`). A recipient who replied STOP is refused at create with
  ``message_blocked_by_number`` (the documented code for a destination that blocked the sender;
  the documentation does not say which code a create gets).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode, urlparse

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from .config import SandboxConfig
from .magic import outcome_for
from .registry import Registry, StoredMessage
from .signalwire_rest import API_ROOT, SignalWireRest, authenticated
from .signalwire_rules import BODY_LIMIT, MEDIA_LIMIT, segments
from .signing import signalwire_json_signatures

log = logging.getLogger(__name__)

ERRORS_URL = "https://developer.signalwire.com/rest/overview/error-codes/"
NATIVE_NUMBER = re.compile(r"^\+?\d{5,17}$")  # "+ followed by 5-17 digits", or a passthrough like 988
CUSTOM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_PREFIXES = ("signalwire_", "sw_", "rtc_", "internal_")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _plain(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)


def _invalid(problems: list[tuple[str, str | None, str]]) -> JSONResponse:
    """``422`` naming each problem: ``(code, attribute, message)``."""
    errors = [
        {"type": "validation_error", "code": code, "message": text, "attribute": attribute,
         "url": f"{ERRORS_URL}#{code}"}
        for code, attribute, text in problems
    ]  # fmt: skip
    return JSONResponse({"errors": errors}, status_code=422)


def _custom_variable_problems(value: Any) -> list[tuple[str, str | None, str]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        return [("must_be_object", "custom_variables", "must be an object of string key/value pairs")]
    if len(value) > 20:
        return [("too_many_custom_variables", "custom_variables", "at most 20 keys are allowed")]
    problems: list[tuple[str, str | None, str]] = []
    for key, item in value.items():
        if not CUSTOM_KEY.match(key):
            problems.append(("invalid_custom_variable_name", "custom_variables", f"key {key!r} is invalid"))
        elif key.lower().startswith(RESERVED_PREFIXES):
            problems.append(("reserved_custom_variable_name", "custom_variables", f"key {key!r} is reserved"))
        elif not isinstance(item, str) or not item:
            problems.append(
                ("invalid_custom_variable_value", "custom_variables", f"{key}: must be a non-empty string")
            )
        elif len(item.encode()) > 1024:
            problems.append(
                ("custom_variable_value_too_long", "custom_variables", f"{key}: at most 1024 bytes")
            )
    return problems


def _create_problems(data: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    to, sender, body, media = data.get("to"), data.get("from"), data.get("body"), data.get("media")
    problems: list[tuple[str, str | None, str]] = []
    if not to:
        problems.append(("missing_required_parameter", "to", "to is required"))
    elif not isinstance(to, str) or not NATIVE_NUMBER.match(to):
        problems.append(("invalid_to_number", "to", "The destination number for the message is invalid."))
    if not sender:
        problems.append(("missing_required_parameter", "from", "from is required"))
    elif not isinstance(sender, str) or not NATIVE_NUMBER.match(sender):
        problems.append((
            "invalid_from_number", "from",
            "From must be a valid purchased phone number or WhatsApp business number from your SignalWire project.",
        ))  # fmt: skip
    if media is not None and (not isinstance(media, list) or not all(isinstance(m, str) for m in media)):
        problems.append(("not_an_array_of_strings", "media", "media must be an array of URLs"))
        media = None
    if not body and not media:
        problems.append(("body_or_media_required", "body", "A body must be included if there is no media."))
    elif body is not None and (not isinstance(body, str) or len(body) > BODY_LIMIT):
        problems.append(("character_limit_exceeded", "body", f"The body exceeds {BODY_LIMIT} characters."))
    if media and len(media) > MEDIA_LIMIT:
        problems.append(("media_limit_exceeded", "media", f"At most {MEDIA_LIMIT} media items are allowed."))
    elif media and any(urlparse(m).scheme not in ("http", "https") for m in media):
        problems.append(("invalid_media_url", "media", "Media URLs must be http or https."))
    callback = data.get("status_callback")
    if callback is not None and (
        not isinstance(callback, str) or urlparse(callback).scheme not in ("http", "https")
    ):
        problems.append(("not_an_http_url", "status_callback", "Value must be an HTTP or HTTPS URL."))
    problems += _custom_variable_problems(data.get("custom_variables"))
    if not problems and outcome_for(str(to)).outcome == "rejected":
        problems.append(("message_blocked_by_number", "to",
                         "The destination number blocked messages from the sending number."))  # fmt: skip
    return problems


class SignalWireMessaging:
    """The native routes; messages move along with the Compatibility API's progressions."""

    def __init__(self, config: SandboxConfig, registry: Registry, rest: SignalWireRest) -> None:
        self.config = config
        self.registry = registry
        self.rest = rest
        rest.listeners.append(self._status_changed)

    def router(self) -> APIRouter:
        router = APIRouter(prefix="/api/messaging")
        router.add_api_route("/messages", self.create, methods=["POST"])
        router.add_api_route("/messages/{message_id}", self.redact, methods=["PATCH"])
        router.add_api_route("/logs", self.list_logs, methods=["GET"])
        router.add_api_route("/logs/{log_id}", self.get_log, methods=["GET"])
        return router

    async def _json(self, request: Request) -> dict[str, Any] | JSONResponse:
        if not authenticated(request, self.config):
            return _plain(401, "Unauthorized")
        try:
            data = json.loads(await request.body())
        except ValueError:
            return _plain(400, "Bad Request")
        return data if isinstance(data, dict) else _plain(400, "Bad Request")

    def _message(self, message: StoredMessage) -> dict[str, Any]:
        return {
            "id": message.sid, "from": message.from_number, "to": message.to, "body": message.body or "",
            "status": message.status, "direction": message.direction, "kind": "mms" if message.media else "sms",
            "media": list(message.media), "number_of_segments": message.num_segments,
            "error_code": message.error_code, "error_message": message.error_message,
            "created_at": _iso(message.date_created), "project_id": self.config.signalwire_project,
            "status_callback_url": message.status_callback, "message_uri": f"/api/messaging/logs/{message.sid}",
        }  # fmt: skip

    async def create(self, request: Request) -> JSONResponse:
        data = await self._json(request)
        if isinstance(data, JSONResponse):
            return data
        problems = _create_problems(data)
        if problems:
            return _invalid(problems)
        body, media = data.get("body") or None, list(data.get("media") or [])
        now = time.time()
        message = StoredMessage(
            service="signalwire", sid=str(uuid.uuid4()), to=data["to"], from_number=data["from"], body=body,
            media=media, status="queued", status_callback=data.get("status_callback"),
            num_segments=max(segments(body or ""), 1), date_created=now, date_updated=now, payload=data,
            channel="messaging", custom_variables=dict(data.get("custom_variables") or {}),
        )  # fmt: skip
        message.history.append({"status": "queued", "at": now})
        self.registry.add(message)
        self.rest.start(message)
        return JSONResponse(self._message(message), status_code=201)

    async def redact(self, message_id: str, request: Request) -> JSONResponse:
        data = await self._json(request)
        if isinstance(data, JSONResponse):
            return data
        message = self.registry.get(message_id)
        if message is None or message.channel != "messaging":
            return _plain(404, "Not Found")
        if data.get("body") != "":
            return _invalid([("body_must_be_empty", "body", "must be an empty string to redact the message")])
        if message.status in ("queued", "initiated"):
            return _invalid([("cannot_redact_in_progress_message", "base",
                              "Cannot redact a message that is in progress.")])  # fmt: skip
        message.body = ""
        return JSONResponse(self._message(message))

    # -- the message logs ---------------------------------------------------------------------

    def _log(self, message: StoredMessage, base: str) -> dict[str, Any]:
        laml = message.channel == "compatibility"
        project = self.config.signalwire_project
        return {
            "id": message.sid, "from": message.from_number, "to": message.to, "status": message.status,
            "direction": "outbound-api" if laml and message.direction == "outbound" else message.direction,
            "kind": "mms" if message.media else "sms",
            "source": "laml" if laml else "realtime_api", "type": "laml_message" if laml else "relay_message",
            "url": f"{base}{API_ROOT}/Accounts/{project}/Messages/{message.sid}" if laml else None,
            "number_of_segments": message.num_segments, "charge": 0.0, "charge_details": [],
            "created_at": _iso(message.date_created),
            "error_code": message.error_code, "error_message": message.error_message,
        }  # fmt: skip

    async def get_log(self, log_id: str, request: Request) -> JSONResponse:
        if not authenticated(request, self.config):
            return _plain(401, "Unauthorized")
        message = self.registry.get(log_id)
        if message is None or message.service != "signalwire":
            return _plain(404, "Not Found")
        return JSONResponse(self._log(message, _base(request)))

    async def list_logs(self, request: Request) -> JSONResponse:
        if not authenticated(request, self.config):
            return _plain(401, "Unauthorized")
        q = request.query_params
        problems: list[tuple[str, str | None, str]] = []
        bounds: dict[str, float] = {}
        for name in ("created_before", "created_on", "created_after"):
            if q.get(name):
                try:
                    bounds[name] = _parse_when(q[name])
                except ValueError:
                    problems.append(("datetime_required", name, "This value must be a DateTime"))
        try:
            size = int(q.get("page_size", "50"))
            number = int(q.get("page_number", "0"))
        except ValueError:
            return _invalid(
                [("invalid_parameter", "page_size", "page_size and page_number must be integers")]
            )
        if not 1 <= size <= 1000:
            problems.append(("invalid_parameter", "page_size", "page_size must be 1 to 1000"))
        token = q.get("page_token")
        if number > 0 and not token:
            problems.append(("page_token_required", "page_token",
                             "A page token is required if the page_number value is greater than 0."))  # fmt: skip
        if problems:
            return _invalid(problems)
        rows = [m for m in reversed(self.registry.all("signalwire")) if _within(m.date_created, bounds)]
        start = 0
        if token:  # the token names the last entry of the page before
            ids = [m.sid for m in rows]
            if not token.startswith("PA") or token[2:] not in ids:
                return _invalid(
                    [("page_token_is_invalid", "page_token", "The provided page token is not valid.")]
                )
            start = ids.index(token[2:]) + 1
        chunk = rows[start : start + size]
        base = _base(request)
        filters = {k: q[k] for k in ("created_before", "created_on", "created_after") if q.get(k)}

        def link(page: int, after: str | None) -> str:
            params: dict[str, Any] = {**filters, "page_number": page, "page_size": size}
            if after:
                params["page_token"] = f"PA{after}"
            return f"{base}/api/messaging/logs?{urlencode(params)}"

        links = {"self": link(number, token[2:] if token else None), "first": link(0, None)}
        if start + size < len(rows):
            links["next"] = link(number + 1, chunk[-1].sid)
        if start > 0:
            before = start - size - 1
            links["prev"] = link(max(number - 1, 0), rows[before].sid if before >= 0 else None)
        return JSONResponse({"links": links, "data": [self._log(m, base) for m in chunk]})

    # -- status callbacks ---------------------------------------------------------------------

    async def _status_changed(self, message: StoredMessage) -> None:
        if message.channel != "messaging" or not message.status_callback:
            return
        payload: dict[str, Any] = {
            "id": message.sid, "project_id": self.config.signalwire_project, "status": message.status,
            "to": message.to, "from": message.from_number, "body": message.body or "",
            "number_of_segments": message.num_segments, "timestamp": _iso(message.date_updated),
            "error_code": message.error_code, "error_message": message.error_message,
        }  # fmt: skip
        if message.custom_variables:
            payload["custom_variables"] = dict(message.custom_variables)
        raw = json.dumps(payload).encode()
        url = message.status_callback
        headers = {"Content-Type": "application/json", "User-Agent": "SignalWire-Sandbox",
                   **signalwire_json_signatures(self.config.signing_key, url, raw)}  # fmt: skip
        attempt: dict[str, Any] = {
            "url": url,
            "sid": message.sid,
            "status": message.status,
            "params": payload,
        }
        try:
            response = await self.rest.background.http.post(url, content=raw, headers=headers)
            attempt["response_status"] = response.status_code
        except httpx.HTTPError as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"
            log.warning("status callback to %s failed: %s", url, attempt["error"])
        self.registry.record_callback(attempt)


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _parse_when(text: str) -> float:
    """A date (``2022-04-30``, the whole UTC day starting then) or an ISO 8601 time."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


def _within(created: float, bounds: dict[str, float]) -> bool:
    day = 86400.0
    if "created_before" in bounds and not created < bounds["created_before"]:
        return False
    if "created_after" in bounds and not created > bounds["created_after"]:
        return False
    return "created_on" not in bounds or bounds["created_on"] <= created < bounds["created_on"] + day
