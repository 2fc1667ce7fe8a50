"""The webhook receiver: WhatsApp and SignalWire POST statuses and inbound messages here.

One FastAPI app with the connection to use named in the path:

- ``GET  /whatsapp/{conn_id}``   Meta's verification handshake (``hub.verify_token``)
- ``POST /whatsapp/{conn_id}``   Cloud API events, ``X-Hub-Signature-256`` checked with the app secret
- ``POST /signalwire/{conn_id}`` status callbacks and inbound SMS, ``X-SignalWire-Signature`` (or
  ``X-Twilio-Signature``) checked with the signing key

Every answer is quick; forged or unsigned requests get 401/403 and write nothing; malformed bodies
get 400. A store outage gets 503, so the service delivers the event again later.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ..clients.webhook_payloads import MalformedPayload, parse_signalwire_callback, parse_whatsapp_webhook
from ..core.events import InboundMessage, StatusEvent
from ..core.signatures import verify_signalwire_signature, verify_whatsapp_signature
from .store import MessageStore

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class WebhookSecrets:
    app_secret: str | None = field(default=None, repr=False)
    verify_token: str | None = field(default=None, repr=False)
    signing_key: str | None = field(default=None, repr=False)


SecretsResolver = Callable[[str], WebhookSecrets | None]


class AirflowConnectionSecrets:
    """Webhook secrets from Airflow connections (env vars, secrets backend or metastore), cached briefly."""

    def __init__(self, ttl_seconds: float = 30.0) -> None:
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, WebhookSecrets | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, conn_id: str) -> WebhookSecrets | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(conn_id)
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        secrets = self._load(conn_id)
        with self._lock:
            self._cache[conn_id] = (now, secrets)
        return secrets

    @staticmethod
    def _load(conn_id: str) -> WebhookSecrets | None:
        from airflow.exceptions import AirflowNotFoundException
        from airflow.models.connection import Connection

        from ..hooks.connections import extra_value

        try:
            conn = Connection.get_connection_from_secrets(conn_id)
        except AirflowNotFoundException:
            return None
        extras = conn.extra_dejson or {}
        kind = conn.conn_type or ""
        return WebhookSecrets(
            app_secret=extra_value(extras, kind, "app_secret"),
            verify_token=extra_value(extras, kind, "verify_token"),
            signing_key=extra_value(extras, kind, "signing_key"),
        )


def _public_url(request: Request) -> str:
    """The URL the service called, rebuilt from proxy headers when there are any."""
    url = request.url
    proto = request.headers.get("x-forwarded-proto")
    host = request.headers.get("x-forwarded-host")
    if proto:
        url = url.replace(scheme=proto.split(",")[0].strip())
    if host:
        url = url.replace(netloc=host.split(",")[0].strip())
    return str(url)


def create_webhook_app(
    *,
    store: MessageStore | None = None,
    secrets: SecretsResolver | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    app = FastAPI(title="Messaging webhooks (WhatsApp, SignalWire)")
    resolve = secrets or AirflowConnectionSecrets()
    store_holder: dict[str, MessageStore] = {}

    def get_store() -> MessageStore:
        if "store" not in store_holder:
            store_holder["store"] = store or MessageStore()
        return store_holder["store"]

    async def read_body(request: Request) -> bytes | Response:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_body_bytes:
            return JSONResponse({"error": "body too large"}, status_code=413)
        body = await request.body()
        if len(body) > max_body_bytes:
            return JSONResponse({"error": "body too large"}, status_code=413)
        return body

    async def secrets_for(conn_id: str) -> WebhookSecrets | Response:
        found = await run_in_threadpool(resolve, conn_id)
        if found is None:
            return JSONResponse({"error": f"no connection named {conn_id!r}"}, status_code=404)
        return found

    async def save(statuses: list[StatusEvent], inbound: list[InboundMessage]) -> Response:
        def write() -> tuple[int, int]:
            s = get_store()
            new_statuses = s.record_statuses(statuses) if statuses else 0
            new_inbound = sum(1 for m in inbound if s.record_inbound(m))
            return new_statuses, new_inbound

        try:
            new_statuses, new_inbound = await run_in_threadpool(write)
        except Exception:
            log.exception("could not write webhook events to the store")
            return JSONResponse({"error": "store unavailable; deliver again later"}, status_code=503)
        return JSONResponse({"statuses": new_statuses, "inbound": new_inbound})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/whatsapp/{conn_id}")
    async def whatsapp_verify(conn_id: str, request: Request) -> Response:
        found = await secrets_for(conn_id)
        if isinstance(found, Response):
            return found
        q = request.query_params
        token = found.verify_token
        if q.get("hub.mode") == "subscribe" and token and q.get("hub.verify_token") == token:
            return PlainTextResponse(q.get("hub.challenge", ""))
        return PlainTextResponse("verification failed", status_code=403)

    @app.post("/whatsapp/{conn_id}")
    async def whatsapp_events(conn_id: str, request: Request) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        found = await secrets_for(conn_id)
        if isinstance(found, Response):
            return found
        signature = request.headers.get("x-hub-signature-256")
        if not signature:
            return JSONResponse({"error": "missing X-Hub-Signature-256"}, status_code=401)
        if not found.app_secret:
            return JSONResponse(
                {"error": f"connection {conn_id!r} has no app secret to check signatures"}, status_code=403
            )
        if not verify_whatsapp_signature(found.app_secret, signature, body):
            return JSONResponse({"error": "invalid signature"}, status_code=403)
        try:
            statuses, inbound = parse_whatsapp_webhook(json.loads(body))
        except (ValueError, MalformedPayload, TypeError, AttributeError) as exc:
            return JSONResponse({"error": f"malformed body: {exc}"}, status_code=400)
        return await save(statuses, inbound)

    @app.post("/signalwire/{conn_id}")
    async def signalwire_events(conn_id: str, request: Request) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            return body
        found = await secrets_for(conn_id)
        if isinstance(found, Response):
            return found
        signature = request.headers.get("x-signalwire-signature") or request.headers.get("x-twilio-signature")
        if not signature:
            return JSONResponse({"error": "missing X-SignalWire-Signature"}, status_code=401)
        if not found.signing_key:
            return JSONResponse(
                {"error": f"connection {conn_id!r} has no signing key to check signatures"}, status_code=403
            )
        if not verify_signalwire_signature(found.signing_key, signature, _public_url(request), body):
            return JSONResponse({"error": "invalid signature"}, status_code=403)
        try:
            fields: dict[str, Any]
            if "json" in request.headers.get("content-type", ""):
                fields = {k: str(v) for k, v in json.loads(body).items()}
            else:
                fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
            parsed = parse_signalwire_callback(fields)
        except (ValueError, MalformedPayload, AttributeError, UnicodeDecodeError) as exc:
            return JSONResponse({"error": f"malformed body: {exc}"}, status_code=400)
        if isinstance(parsed, InboundMessage):
            return await save([], [parsed])
        return await save([parsed], [])

    return app
