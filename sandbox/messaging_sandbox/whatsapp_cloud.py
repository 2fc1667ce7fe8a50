"""WhatsApp Cloud API (Graph API) as Meta answers it: send, mark-as-read, templates, media,
phone number.

Requests are validated the way the real API does and refused with its error JSON
(``error.message/type/code/error_subcode/error_data/fbtrace_id``). A message goes to a phone
number (``to``) or a business-scoped user id (``recipient``). Accepted messages then move
``sent → delivered → read`` (``played`` after it for a voice note; or fail, per the magic
recipients), and every change is POSTed to the configured webhook URL in the current documented
shape (``whatsapp_webhooks``), signed with ``X-Hub-Signature-256`` over the raw body.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
import secrets
import time
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .background import Background
from .config import SandboxConfig
from .magic import whatsapp_outcome_for
from .registry import Registry, StoredMessage
from .signing import meta_signature
from .whatsapp_errors import META_ERRORS
from .whatsapp_media import MediaStore, refusal
from .whatsapp_templates import DEFAULT_TEMPLATES
from .whatsapp_users import BSUID, PARENT_BSUID, PHONE, Addressee, addressee, sender
from .whatsapp_webhooks import inbound_value, status_value

log = logging.getLogger(__name__)

TYPES = (
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "reaction",
    "template",
)
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
DOWNLOAD_PATH = "/whatsapp_business/attachments/"  # the path of Meta's media URLs
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_VERSION = re.compile(r"^v[0-9]+\.[0-9]+$")


class GraphError(Exception):
    def __init__(
        self, code: int, message: str, details: str, status: int = 400, subcode: int | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.details, self.status, self.subcode = (
            code,
            message,
            details,
            status,
            subcode,
        )

    def response(self) -> JSONResponse:
        error: dict[str, Any] = {
            "message": f"(#{self.code}) {self.message}",
            "type": "OAuthException",
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details},
            "fbtrace_id": "A" + secrets.token_hex(10),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        return JSONResponse({"error": error}, status_code=self.status)


def _invalid(details: str) -> GraphError:
    return GraphError(100, "Invalid parameter", details)


def _param(message: str) -> GraphError:
    """Meta puts some parameter refusals in the message itself: ``(#100) Param file must be ...``."""
    return GraphError(100, message, message)


def _require_text(obj: Any, key: str, where: str, limit: int) -> None:
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, str) or not value:
        raise _invalid(f"Parameter '{where}.{key}' is required.")
    if len(value) > limit:
        raise _invalid(f"Parameter '{where}.{key}' exceeds the maximum length of {limit} characters.")


def validate_message(payload: dict[str, Any], templates: list[dict[str, Any]]) -> None:
    if payload.get("messaging_product") != "whatsapp":
        raise _invalid("The parameter messaging_product is required and must be 'whatsapp'.")
    to, recipient = payload.get("to"), payload.get("recipient")
    if not to and not recipient:
        raise _invalid("The parameter to is required.")
    if to and not PHONE.fullmatch(str(to)):
        raise GraphError(
            131009, "Parameter value is not valid", f"Recipient '{to}' is not a valid phone number."
        )
    if not to and not (BSUID.fullmatch(str(recipient)) or PARENT_BSUID.fullmatch(str(recipient))):
        raise GraphError(
            131009,
            "Parameter value is not valid",
            f"Recipient '{recipient}' is not a valid business-scoped user ID.",
        )
    kind = payload.get("type", "text")
    if kind not in TYPES:
        raise _invalid(f"Param type must be one of {{{', '.join(TYPES)}}}.")
    body = payload.get(kind)
    if not isinstance(body, (dict, list)):
        raise _invalid(f"The parameter {kind} is required.")
    if kind == "text":
        _require_text(body, "body", "text", 4096)
    elif kind in ("image", "audio", "video", "document", "sticker"):
        assert isinstance(body, dict)
        if ("link" in body) == ("id" in body):
            raise _invalid(f"Parameter '{kind}' needs exactly one of 'link' or 'id'.")
        if len(str(body.get("caption", ""))) > 1024:
            raise _invalid(f"Parameter '{kind}.caption' exceeds the maximum length of 1024 characters.")
    elif kind == "interactive":
        _validate_interactive(body)
    elif kind == "template":
        assert isinstance(body, dict)
        _validate_template(body, templates)


def _validate_interactive(body: Any) -> None:
    if not isinstance(body, dict) or body.get("type") not in (
        "button",
        "list",
        "cta_url",
        "product",
        "product_list",
        "flow",
    ):
        raise _invalid("Parameter 'interactive.type' is required.")
    _require_text(body.get("body"), "text", "interactive.body", 1024)
    action = body.get("action") or {}
    if body["type"] == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            raise GraphError(131009, "Parameter value is not valid", "Buttons count must be between 1 and 3.")
        titles = [(b.get("reply") or {}).get("title", "") for b in buttons]
        if any(len(t) > 20 or not t for t in titles) or len(set(titles)) != len(titles):
            raise GraphError(
                131009, "Parameter value is not valid", "Button titles must be unique, 1-20 characters."
            )
    if body["type"] == "list":
        rows = [r for s in action.get("sections") or [] for r in s.get("rows") or []]
        if not 1 <= len(rows) <= 10:
            raise GraphError(131009, "Parameter value is not valid", "A list needs 1 to 10 rows in all.")


def _validate_template(body: dict[str, Any], templates: list[dict[str, Any]]) -> None:
    name, language = body.get("name"), (body.get("language") or {}).get("code")
    found = next((t for t in templates if t["name"] == name and t["language"] == language), None)
    if found is None:
        raise GraphError(
            132001,
            "Template name does not exist in the translation",
            f"template name ({name}) does not exist in {language}",
        )
    if found["status"] == "PAUSED":
        raise GraphError(132015, "Template is Paused", f"Template {name} is paused due to low quality.")
    if found["status"] == "DISABLED":
        raise GraphError(132016, "Template is disabled", f"Template {name} was disabled.")
    if found["status"] != "APPROVED":
        raise GraphError(
            132001,
            "Template name does not exist in the translation",
            f"Template {name} is {found['status']}.",
        )
    wanted = {c["type"]: c for c in found["components"]}
    given = {c.get("type", "").upper(): c for c in body.get("components") or [] if c.get("type") != "button"}
    expected = list(dict.fromkeys(_PLACEHOLDER.findall(wanted.get("BODY", {}).get("text", ""))))
    params = (given.get("BODY") or {}).get("parameters") or []
    if len(params) != len(expected):
        raise GraphError(
            132000, "Number of parameters does not match the expected number of params",
            f"body: number of localizable_params ({len(params)}) does not match the expected number of params ({len(expected)})",
        )  # fmt: skip
    if found.get("parameter_format") == "NAMED" and {p.get("parameter_name") for p in params} != set(
        expected
    ):
        raise GraphError(
            132000,
            "Number of parameters does not match the expected number of params",
            "named parameters do not match",
        )
    header = wanted.get("HEADER")
    if header and header.get("format", "TEXT") != "TEXT" and "HEADER" not in given:
        raise GraphError(
            132012,
            "Parameter format does not match format in the created template",
            "header: missing media parameter",
        )


class WhatsAppCloud:
    """The routes plus the background work that moves messages along and posts webhooks."""

    def __init__(self, config: SandboxConfig, registry: Registry) -> None:
        self.config = config
        self.registry = registry
        self.templates: list[dict[str, Any]] = copy.deepcopy(DEFAULT_TEMPLATES)
        self.webhook_url = config.webhook_url
        self.background = Background()
        self.media = MediaStore()

    def router(self) -> APIRouter:
        router = APIRouter()
        router.add_api_route("/{version}/{node_id}/messages", self.messages, methods=["POST"])
        router.add_api_route("/{version}/{node_id}/media", self.upload_media, methods=["POST"])
        router.add_api_route("/{version}/{node_id}/message_templates", self.list_templates, methods=["GET"])
        router.add_api_route("/{version}/{node_id}", self.node, methods=["GET"])
        router.add_api_route(DOWNLOAD_PATH, self.download_media, methods=["GET"])
        return router

    def _check_token(self, request: Request) -> None:
        if request.headers.get("authorization", "") != f"Bearer {self.config.whatsapp_token}":
            raise GraphError(
                190,
                "Invalid OAuth access token - Cannot parse access token",
                "Invalid OAuth access token.",
                status=401,
            )

    def _check_request(self, request: Request, version: str, node_id: str, expected_node: str) -> None:
        """Refuse an unknown API version, a wrong token or an unknown node, in that order."""
        if not _VERSION.match(version):
            raise GraphError(
                100, "Unknown path components", f"/{version} is not a Graph API version", status=400
            )
        self._check_token(request)
        if node_id != expected_node:
            raise GraphError(
                100,
                f"Unsupported {request.method.lower()} request",
                f"Object with ID '{node_id}' does not exist.",
                subcode=33,
            )

    async def messages(self, version: str, node_id: str, request: Request) -> JSONResponse:
        try:
            self._check_request(request, version, node_id, self.config.whatsapp_phone_number_id)
            try:
                payload = json.loads(await request.body())
            except ValueError:
                raise _invalid("The request body is not valid JSON.") from None
            if not isinstance(payload, dict):
                raise _invalid("The request body must be a JSON object.")
            if payload.get("status") == "read":
                return JSONResponse({"success": True})
            validate_message(payload, self.templates)
            to = addressee(payload)
            assert to is not None  # validated above
            magic = whatsapp_outcome_for(to.key)
            if magic.outcome == "window_closed" and payload.get("type", "text") != "template":
                raise GraphError(131047, *META_ERRORS[131047])
        except GraphError as exc:
            return exc.response()
        message = self._store(payload, to.key)
        self.background.spawn(self._progress(message, to))
        contact = {"input": to.given, **({"wa_id": to.user.phone} if to.by_phone else {"user_id": to.given})}
        return JSONResponse({
            "messaging_product": "whatsapp",
            "contacts": [contact],
            "messages": [{"id": message.sid, "message_status": "accepted"}],
        })  # fmt: skip

    def _store(self, payload: dict[str, Any], to: str) -> StoredMessage:
        kind = payload.get("type", "text")
        content = payload.get(kind)
        text = content.get("body") if kind == "text" and isinstance(content, dict) else None
        if kind == "template" and isinstance(content, dict):
            text = f"template {content.get('name')} ({(content.get('language') or {}).get('code')})"
        now = time.time()
        message = StoredMessage(
            service="whatsapp", sid="wamid." + secrets.token_urlsafe(24), to=to,
            from_number=self.config.whatsapp_phone_number_id, body=text, media=[], status="accepted",
            status_callback=self.webhook_url, num_segments=1, date_created=now, date_updated=now,
        )  # fmt: skip
        message.history.append({"status": "accepted", "at": now})
        message.payload = payload
        media = content.get("id") if kind in MEDIA_TYPES and isinstance(content, dict) else None
        stored = self.media.get(str(media)) if media else None
        if stored is not None:  # the control API shows which uploaded file a message carries
            message.media = [
                f"{stored.filename or stored.media_id} ({stored.mime_type}, {len(stored.content)} bytes)"
            ]
        self.registry.add(message)
        return message

    async def upload_media(self, version: str, node_id: str, request: Request) -> JSONResponse:
        try:
            self._check_request(request, version, node_id, self.config.whatsapp_phone_number_id)
            try:
                form = await request.form()
            except Exception:  # not multipart: Meta reads no file either
                raise _invalid("The parameter file is required.") from None
            if form.get("messaging_product") != "whatsapp":
                raise _invalid("The parameter messaging_product is required and must be 'whatsapp'.")
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise _invalid("The parameter file is required.")
            content = await upload.read()
            mime_type = upload.content_type or str(form.get("type") or "application/octet-stream")
            problem = refusal(mime_type, len(content))
            if problem is not None:
                raise (
                    GraphError(100, "Invalid parameter", problem)
                    if "Too Large" in problem
                    else _param(problem)
                )
        except GraphError as exc:
            return exc.response()
        stored = self.media.add(content, mime_type, upload.filename)
        return JSONResponse({"id": stored.media_id})

    async def download_media(self, request: Request) -> Response:
        """The file behind a media URL: the Bearer token is required, as on Meta's CDN."""
        try:
            self._check_token(request)
        except GraphError as exc:
            return exc.response()
        stored = self.media.get(request.query_params.get("mid", ""))
        if stored is None:
            return Response(status_code=404)
        return Response(stored.content, media_type=stored.mime_type)

    async def list_templates(self, version: str, node_id: str, request: Request) -> JSONResponse:
        try:
            self._check_request(request, version, node_id, self.config.whatsapp_waba_id)
        except GraphError as exc:
            return exc.response()
        q = request.query_params
        rows = [t for t in self.templates if not q.get("name") or q["name"] in t["name"]]
        limit = max(1, min(int(q.get("limit", "25") or 25), 100))
        start = int(q.get("after", "0") or 0)
        page = rows[start : start + limit]
        body: dict[str, Any] = {
            "data": page,
            "paging": {"cursors": {"before": str(start), "after": str(start + len(page))}},
        }
        if start + limit < len(rows):
            params = {k: v for k, v in q.items() if k != "after"}
            query = "&".join(f"{k}={v}" for k, v in {**params, "after": start + limit}.items())
            body["paging"]["next"] = (
                f"{str(request.base_url).rstrip('/')}/{version}/{node_id}/message_templates?{query}"
            )
        return JSONResponse(body)

    async def node(self, version: str, node_id: str, request: Request) -> JSONResponse:
        stored = self.media.get(node_id)
        try:
            self._check_request(
                request, version, node_id, stored.media_id if stored else self.config.whatsapp_phone_number_id
            )
        except GraphError as exc:
            return exc.response()
        if stored is not None:
            url = f"{str(request.base_url).rstrip('/')}{DOWNLOAD_PATH}?mid={stored.media_id}&ext={int(stored.uploaded_at)}&hash={stored.sha256[:16]}"
            return JSONResponse(stored.info(url))
        return JSONResponse({
            "id": node_id, "display_phone_number": "+1 555-000-1111", "verified_name": "Airflow Sandbox",
            "quality_rating": "GREEN", "code_verification_status": "VERIFIED",
        })  # fmt: skip

    # -- background work -------------------------------------------------------------------

    async def _progress(self, message: StoredMessage, to: Addressee) -> None:
        magic = whatsapp_outcome_for(message.to)
        c = self.config
        await asyncio.sleep(c.sent_delay)
        base = time.time()
        plan: list[tuple[str, float, int | None]] = [("sent", base, None)]
        if magic.outcome == "failed":
            plan.append(("failed", base + 1, 131026))
        elif magic.outcome == "multi_device":
            plan += [("delivered", base + 1, None), ("failed", base + 2, 131026)]
        elif magic.outcome in ("read", "window_closed", "shuffled"):
            plan += [("delivered", base + 1, None), ("read", base + 2, None)]
            audio = message.payload.get("audio") if message.payload.get("type") == "audio" else None
            if isinstance(audio, dict) and audio.get("voice"):
                plan.append(("played", base + 3, None))
        if magic.outcome == "shuffled":
            plan = [plan[0], plan[2], plan[1]]
        for i, (status, ts, code) in enumerate(plan):
            if i:
                await asyncio.sleep(c.delivered_delay if status != "read" else c.read_delay)
            if code is None:
                message.set_status(status)
            else:
                message.set_status(status, str(code), META_ERRORS[code].title)
            copies = 2 if magic.outcome == "shuffled" else 1
            categories = {str(t["name"]): str(t.get("category", "utility")).lower() for t in self.templates}
            value = status_value(
                self._metadata(), message.sid, message.payload, to, status, ts, code, categories
            )
            for _ in range(copies):
                await self.post_webhook(value)

    def _metadata(self) -> dict[str, str]:
        return {
            "display_phone_number": "15550001111",
            "phone_number_id": self.config.whatsapp_phone_number_id,
        }

    def inbound_value(
        self,
        identity: str,
        text: str | None,
        context_id: str | None = None,
        button: str | None = None,
        media: dict[str, Any] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """A user (a phone number or a BSUID) writes text, taps a button or sends a file:
        ``media`` is ``{"type", "mime_type", "content" (bytes), "filename"?}``."""
        user, phone_shown = sender(identity.lstrip("+") if identity.startswith("+") else identity)
        content: dict[str, Any]
        if media is not None:
            stored = self.media.add(media["content"], media["mime_type"], media.get("filename"))
            item: dict[str, Any] = {
                "mime_type": stored.mime_type,
                "sha256": stored.sha256,
                "id": stored.media_id,
            }
            if media["type"] == "document" and stored.filename:
                item["filename"] = stored.filename
            if text and media["type"] in ("image", "video", "document"):
                item["caption"] = text
            content = {"type": media["type"], media["type"]: item}
        elif button is not None:
            content = {"type": "interactive",
                       "interactive": {"type": "button_reply", "button_reply": {"id": button, "title": text}}}  # fmt: skip
        else:
            content = {"type": "text", "text": {"body": text}}
        return inbound_value(self._metadata(), user, phone_shown, content, context_id)

    async def post_webhook(self, value: dict[str, Any]) -> None:
        """POST one ``messages`` change to the webhook URL, signed like Meta signs it."""
        if not self.webhook_url:
            return
        body = json.dumps({"object": "whatsapp_business_account",
                           "entry": [{"id": self.config.whatsapp_waba_id, "changes": [{"field": "messages", "value": value}]}]}).encode()  # fmt: skip
        attempt: dict[str, Any] = {"url": self.webhook_url, "service": "whatsapp", "body": json.loads(body)}
        try:
            response = await self.background.http.post(
                self.webhook_url,
                content=body,
                headers={"Content-Type": "application/json",
                         "X-Hub-Signature-256": meta_signature(self.config.whatsapp_app_secret, body)},
            )  # fmt: skip
            attempt["response_status"] = response.status_code
        except httpx.HTTPError as exc:
            attempt["error"] = f"{type(exc).__name__}: {exc}"
            log.warning("webhook to %s failed: %s", self.webhook_url, attempt["error"])
        self.registry.record_callback(attempt)

    def cancel_all(self) -> None:
        self.background.cancel_all()

    async def aclose(self) -> None:
        await self.background.aclose()
