"""The webhook receiver: WhatsApp and SignalWire POST statuses and inbound messages here.

One FastAPI app with the connection to use named in the path:

- ``GET  /whatsapp/{conn_id}``   Meta's verification handshake (``hub.verify_token``)
- ``POST /whatsapp/{conn_id}``   Cloud API events, ``X-Hub-Signature-256`` checked with the app secret
- ``POST /signalwire/{conn_id}`` status callbacks and inbound SMS, ``X-SignalWire-Signature`` (or
  ``X-Twilio-Signature``) checked with the signing key

Every answer is quick; forged or unsigned requests get 401/403 and write nothing; malformed bodies
get 400. A store outage gets 503, so the service delivers the event again later. The secrets come
from the same credentials types the hooks use, read from the Airflow connection in the path.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..core.errors import ConfigurationError
from ..core.events import InboundMessage, MalformedPayload, StatusEvent
from ..signalwire import webhooks as signalwire_webhooks
from ..signalwire.credentials import SignalWireCredentials
from ..store.store import MessageStore
from ..whatsapp import webhooks as whatsapp_webhooks
from ..whatsapp.credentials import WhatsAppCredentials

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
Credentials = SignalWireCredentials | WhatsAppCredentials
# (service, conn_id) -> the connection's credentials, None when there is no such connection
CredentialsResolver = Callable[[str, str], Credentials | None]


class AirflowConnections:
    """Credentials from Airflow connections (env vars, secrets backend or metastore), cached briefly."""

    def __init__(self, ttl_seconds: float = 30.0) -> None:
        self.ttl = ttl_seconds
        self._cache: dict[tuple[str, str], tuple[float, Credentials | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, service: str, conn_id: str) -> Credentials | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get((service, conn_id))
        if hit and now - hit[0] < self.ttl:
            return hit[1]
        found = self._load(service, conn_id)
        with self._lock:
            self._cache[(service, conn_id)] = (now, found)
        return found

    @staticmethod
    def _load(service: str, conn_id: str) -> Credentials | None:
        from airflow.exceptions import AirflowNotFoundException
        from airflow.models.connection import Connection

        try:
            conn = Connection.get_connection_from_secrets(conn_id)
        except AirflowNotFoundException:
            return None
        extras = conn.extra_dejson or {}
        if service == "signalwire":
            return SignalWireCredentials.from_connection(
                conn_id, host=conn.host, login=conn.login, password=conn.password, extras=extras
            )
        return WhatsAppCredentials.from_connection(
            conn_id, login=conn.login, password=conn.password, extras=extras
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


def _error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)


class Receiver:
    """What every route does: read the body within bounds, find the credentials, store the events."""

    def __init__(self, store: MessageStore | None, resolve: CredentialsResolver, max_body_bytes: int) -> None:
        self._store = store
        self.resolve = resolve
        self.max_body_bytes = max_body_bytes

    @property
    def store(self) -> MessageStore:
        if self._store is None:  # created on first use: the api-server may start before the store exists
            self._store = MessageStore()
        return self._store

    async def body(self, request: Request) -> bytes | Response:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            return _error(413, "body too large")
        body = await request.body()
        return _error(413, "body too large") if len(body) > self.max_body_bytes else body

    async def credentials(self, service: str, conn_id: str) -> Credentials | Response:
        try:
            found = await run_in_threadpool(self.resolve, service, conn_id)
        except ConfigurationError as exc:  # names the field, never a value
            return _error(403, f"connection {conn_id!r} cannot check signatures: {exc}")
        return found if found is not None else _error(404, f"no connection named {conn_id!r}")

    async def signed_body(
        self,
        request: Request,
        service: str,
        conn_id: str,
        *,
        header: str,
        secret: Callable[[Any], str | None],
        verify: Callable[[str, str, bytes], bool],
    ) -> bytes | Response:
        """The body, once the connection's secret proves the service signed it; else the refusal."""
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        found = await self.credentials(service, conn_id)
        if isinstance(found, Response):
            return found
        signature = request.headers.get(header) or (
            request.headers.get("x-twilio-signature") or request.headers.get("x-signalwire-sha256-signature")
            if service == "signalwire"
            else None  # SignalWire's alias, and its SHA-256 header
        )
        if not signature:
            return _error(401, f"missing {header}")
        key = secret(found)
        if not key:
            return _error(403, f"connection {conn_id!r} has no secret to check signatures with")
        return body if verify(key, signature, body) else _error(403, "invalid signature")

    async def save(self, statuses: list[StatusEvent], inbound: list[InboundMessage]) -> Response:
        def write() -> tuple[int, int]:
            store = self.store
            new_statuses = store.record_statuses(statuses) if statuses else 0
            new_inbound = sum(1 for m in inbound if store.record_inbound(m))
            return new_statuses, new_inbound

        try:
            new_statuses, new_inbound = await run_in_threadpool(write)
        except Exception:
            log.exception("could not write webhook events to the store")
            return _error(503, "store unavailable; deliver again later")
        return JSONResponse({"statuses": new_statuses, "inbound": new_inbound})


def whatsapp_router(receiver: Receiver) -> APIRouter:
    router = APIRouter(prefix="/whatsapp")

    @router.get("/{conn_id}")
    async def verify(conn_id: str, request: Request) -> Response:
        found = await receiver.credentials("whatsapp", conn_id)
        if isinstance(found, Response):
            return found
        q = request.query_params
        token = getattr(found, "verify_token", None)
        if q.get("hub.mode") == "subscribe" and token and q.get("hub.verify_token") == token:
            return PlainTextResponse(q.get("hub.challenge", ""))
        return PlainTextResponse("verification failed", status_code=403)

    @router.post("/{conn_id}")
    async def events(conn_id: str, request: Request) -> Response:
        body = await receiver.signed_body(
            request, "whatsapp", conn_id, header="X-Hub-Signature-256",
            secret=lambda found: found.app_secret, verify=whatsapp_webhooks.verify_signature,
        )  # fmt: skip
        if isinstance(body, Response):
            return body
        try:
            statuses, inbound = whatsapp_webhooks.parse_webhook(json.loads(body))
        except (ValueError, MalformedPayload, TypeError, AttributeError) as exc:
            return _error(400, f"malformed body: {exc}")
        return await receiver.save(statuses, inbound)

    return router


def signalwire_router(receiver: Receiver) -> APIRouter:
    router = APIRouter(prefix="/signalwire")

    @router.post("/{conn_id}")
    async def events(conn_id: str, request: Request) -> Response:
        url = _public_url(request)
        body = await receiver.signed_body(
            request, "signalwire", conn_id, header="X-SignalWire-Signature",
            secret=lambda found: found.signing_key,
            verify=lambda key, signature, raw: signalwire_webhooks.verify_signature(
                key, signature, url, raw, sha256_signature=request.headers.get("x-signalwire-sha256-signature")
            ),
        )  # fmt: skip
        if isinstance(body, Response):
            return body
        try:
            fields: dict[str, Any]
            if "json" in request.headers.get("content-type", ""):
                fields = json.loads(body)  # parse_callback checks its shape
            else:
                fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
            parsed = signalwire_webhooks.parse_callback(fields)
        except (ValueError, MalformedPayload, AttributeError, UnicodeDecodeError) as exc:
            return _error(400, f"malformed body: {exc}")
        if isinstance(parsed, InboundMessage):
            return await receiver.save([], [parsed])
        return await receiver.save([parsed], [])

    return router


def create_webhook_app(
    *,
    store: MessageStore | None = None,
    credentials: CredentialsResolver | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The receiver as an app of its own; ``credentials`` defaults to the Airflow connections."""
    receiver = Receiver(store, credentials or AirflowConnections(), max_body_bytes)
    # no /docs or /openapi.json: the routes are public by necessity, nothing else should be
    app = FastAPI(
        title="Messaging webhooks (WhatsApp, SignalWire)", docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(whatsapp_router(receiver))
    app.include_router(signalwire_router(receiver))
    return app
