"""The webhook receiver: WhatsApp and SignalWire POST statuses and inbound messages here.

One FastAPI app with the connection to use named in the path:

- ``GET  /whatsapp/{conn_id}``   Meta's verification handshake (``hub.verify_token``)
- ``POST /whatsapp/{conn_id}``   Cloud API events, ``X-Hub-Signature-256`` checked with the app secret
- ``POST /signalwire/{conn_id}`` status callbacks and inbound SMS, ``X-SignalWire-Signature`` (or
  ``X-Twilio-Signature``) checked with the signing key

What it answers, and why:

- 401/403/404 for unsigned or forged requests and unknown connections, 413 for a body over the
  limit (read no further than the limit), 400 for a body that is not JSON or not a webhook at all:
  nothing is written, and the refusal is logged with its reason (never a secret or the body).
- 200 for a correctly signed webhook once every event in it that can be stored is stored. An event
  in a shape the service does not send is skipped and logged on its own; it never costs the events
  beside it their place, and a payload that can never succeed is not delivered again for ever.
- 503 only when the store itself cannot be written, so the service delivers the events again later.

Requests are answered fast: the signature is checked and the body read on the event loop, and one
writer thread (``webhooks/writer.py``) stores the events of every request that arrived meanwhile in
one transaction. A request is answered after the transaction holding its events is committed, so
nothing is acknowledged that is not stored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.requests import ClientDisconnect

from ..core.errors import ConfigurationError
from ..core.events import InboundMessage, MalformedPayload, StatusEvent
from ..signalwire import webhooks as signalwire_webhooks
from ..signalwire.credentials import SignalWireCredentials
from ..store.store import MessageStore
from ..whatsapp import webhooks as whatsapp_webhooks
from ..whatsapp.credentials import WhatsAppCredentials
from .writer import BatchWriter, StoreUnavailable

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
MAX_JSON_DEPTH = 64  # deeper parts of a signed body are read as null (Meta nests a few levels)
SERVICES = ("whatsapp", "signalwire")
Credentials = SignalWireCredentials | WhatsAppCredentials
# (service, conn_id) -> the connection's credentials, None when there is no such connection
CredentialsResolver = Callable[[str, str], Credentials | None]
_MISSING = object()


class AirflowConnections:
    """Credentials from Airflow connections (env vars, secrets backend or metastore), cached briefly.

    The cache holds at most ``max_entries`` connection ids, the least recently used leaving first:
    anyone can POST to ``/whatsapp/<random id>``, and ids that name no connection must not grow it.
    """

    def __init__(self, ttl_seconds: float = 30.0, max_entries: int = 256) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str], tuple[float, Credentials | None]] = OrderedDict()
        self._lock = threading.Lock()
        self._loading = threading.Lock()

    def cached(self, service: str, conn_id: str) -> Any:
        """The cached credentials (or None for "no such connection"), else ``_MISSING``."""
        with self._lock:
            hit = self._cache.get((service, conn_id))
            if hit is None or time.monotonic() - hit[0] >= self.ttl:
                return _MISSING
            self._cache.move_to_end((service, conn_id))
            return hit[1]

    def __call__(self, service: str, conn_id: str) -> Credentials | None:
        hit = self.cached(service, conn_id)
        if hit is not _MISSING:
            return hit
        # one look-up at a time: requests arriving together for a connection not yet cached would
        # each look it up, and the first look-ups import Airflow's models, which is not safe from
        # several threads at once (seen: circular-import errors under load)
        with self._loading:
            hit = self.cached(service, conn_id)
            if hit is not _MISSING:
                return hit
            found = self._load(service, conn_id)
            with self._lock:
                self._cache[(service, conn_id)] = (time.monotonic(), found)
                self._cache.move_to_end((service, conn_id))
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
            return found

    def __len__(self) -> int:
        return len(self._cache)

    @staticmethod
    def prepare() -> None:
        """Import what a look-up needs (seconds on a busy machine), so no request waits for it."""
        try:
            from airflow.models.connection import Connection  # noqa: F401
        except Exception as exc:  # the first look-up will say what is wrong
            log.warning("Could not prepare connection look-ups (%s)", type(exc).__name__)

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


# -- the URL the service called ------------------------------------------------------------------

_FORWARDED_PAIR = re.compile(r'\s*([^=;,\s]+)=("(?:[^"\\]|\\.)*"|[^;,]*)\s*([;,]?)')


def forwarded(header: str | None) -> dict[str, str]:
    """The first (client-side) element of an RFC 7239 ``Forwarded`` header, names in lower case:
    ``for=1.2.3.4;proto=https;host=hooks.example.com, for=...`` -> ``{"for": ..., "proto": ...}``."""
    found: dict[str, str] = {}
    pos = 0
    while header and pos < len(header):
        pair = _FORWARDED_PAIR.match(header, pos)
        if not pair or pair.end() == pos:
            break
        name, value, separator = pair.groups()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        found.setdefault(name.lower(), value.strip())
        pos = pair.end()
        if separator == ",":  # the next proxy's element
            break
    return found


def public_url(request: Request) -> str:
    """The URL the service called, rebuilt from the proxy's headers when there are any:
    ``X-Forwarded-Proto``/``X-Forwarded-Host``, else RFC 7239 ``Forwarded`` (``proto``, ``host``).
    SignalWire signs the URL it called, so behind a TLS proxy the request's own URL would not do."""
    url = request.url
    standard = forwarded(request.headers.get("forwarded"))
    proto = (request.headers.get("x-forwarded-proto") or "").split(",")[0].strip() or standard.get("proto")
    host = (request.headers.get("x-forwarded-host") or "").split(",")[0].strip() or standard.get("host")
    if proto and proto.lower() in ("http", "https"):
        url = url.replace(scheme=proto.lower())
    if host:
        url = url.replace(netloc=host)
    return str(url)


def _error(status: int, text: str) -> JSONResponse:
    return JSONResponse({"error": text}, status_code=status)


class BodyTooLarge(Exception):
    pass


class CredentialsUnavailable(Exception):
    """Looking the connection up failed (not "no such connection"): answered 503."""


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _cut_deep(text: str, limit: int) -> str:
    """``text`` with every array or object nested deeper than ``limit`` replaced by ``null``."""
    out: list[str] = []
    depth, pos, cut_from = 0, 0, -1
    for token in _JSON_TOKEN.finditer(text):
        mark = token.group()
        if mark[0] == '"':
            continue
        if mark in "[{":
            depth += 1
            if depth == limit + 1:
                cut_from = token.start()
        else:
            if depth == limit + 1 and cut_from >= 0:
                out += [text[pos:cut_from], "null"]
                pos, cut_from = token.end(), -1
            depth -= 1
    if cut_from >= 0:
        raise ValueError("an array or object is never closed")
    out.append(text[pos:])
    return "".join(out)


def _int(text: str) -> int | str:
    # Python refuses integers of more than 4,300 digits; no field of a webhook holds one
    return int(text) if len(text) <= 4000 else text


def load_json(body: bytes) -> Any:
    """The body as JSON; parts nested deeper than Python's parser goes read as null, so one
    absurd event does not make the others unreadable. ValueError when it is not JSON."""
    try:
        return json.loads(body, parse_int=_int)
    except RecursionError:
        pass
    try:
        return json.loads(_cut_deep(body.decode("utf-8"), MAX_JSON_DEPTH), parse_int=_int)
    except RecursionError as exc:
        raise ValueError("nested too deep") from exc


class Receiver:
    """What every route does: read the body within bounds, find the credentials, store the events."""

    def __init__(
        self,
        store: MessageStore | None,
        resolve: CredentialsResolver,
        max_body_bytes: int,
        *,
        name: str = "",
        seen_interval: float = 5.0,
    ) -> None:
        self._store = store
        self.resolve = resolve
        self.max_body_bytes = max_body_bytes
        self.name = name or f"{socket.gethostname()} receiver"
        self.writer = BatchWriter(lambda: self.store, name=self.name, seen_interval=seen_interval)

    @property
    def store(self) -> MessageStore:
        if self._store is None:  # created on first use: the api-server may start before the store exists
            self._store = MessageStore()
        return self._store

    def refuse(self, service: str, conn_id: str, status: int, reason: str) -> JSONResponse:
        """Answer a refusal, and log why: otherwise only the caller (Meta, SignalWire) hears it."""
        log.warning(
            "Refused a %s webhook for connection %r (HTTP %d): %s", service, conn_id[:100], status, reason
        )
        return _error(status, reason)

    async def body(self, request: Request) -> bytes:
        """The body, read no further than the limit (a chunked body has no length to check first)."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:  # the ASGI messages themselves: request.stream() costs more per request
            message = await request.receive()
            if message["type"] != "http.request":
                raise ClientDisconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def credentials(self, service: str, conn_id: str) -> Credentials | None:
        cached = getattr(self.resolve, "cached", None)
        found = cached(service, conn_id) if cached else _MISSING
        if found is _MISSING:  # a look-up may reach a secrets backend or the metastore
            try:
                found = await run_in_threadpool(self.resolve, service, conn_id)
            except ConfigurationError:
                raise
            except Exception as exc:  # the secrets backend or metastore failed: a passing outage
                raise CredentialsUnavailable(type(exc).__name__) from exc
        return found  # type: ignore[return-value]

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
        try:
            body = await self.body(request)
        except BodyTooLarge:
            return self.refuse(service, conn_id, 413, f"body too large (over {self.max_body_bytes} bytes)")
        try:
            found = await self.credentials(service, conn_id)
        except ConfigurationError as exc:  # names the field, never a value
            return self.refuse(service, conn_id, 403, f"connection cannot check signatures: {exc}")
        except CredentialsUnavailable as exc:
            return self.refuse(
                service, conn_id, 503, f"could not read the connection ({exc}); deliver again later"
            )
        if found is None:
            return self.refuse(service, conn_id, 404, f"no connection named {conn_id[:100]!r}")
        signature = request.headers.get(header) or (
            request.headers.get("x-twilio-signature") or request.headers.get("x-signalwire-sha256-signature")
            if service == "signalwire"
            else None  # SignalWire's alias, and its SHA-256 header
        )
        if not signature:
            return self.refuse(service, conn_id, 401, f"missing {header}")
        key = secret(found)
        if not key:
            return self.refuse(service, conn_id, 403, "the connection has no secret to check signatures with")
        if not verify(key, signature, body):
            return self.refuse(service, conn_id, 403, "invalid signature")
        return body

    async def save(
        self, service: str, statuses: list[StatusEvent], inbound: list[InboundMessage], skipped: int = 0
    ) -> Response:
        try:
            new_statuses, new_inbound = await self.writer.write(service, statuses, inbound)
        except StoreUnavailable:
            return _error(503, "store unavailable; deliver again later")
        answer: dict[str, int] = {"statuses": new_statuses, "inbound": new_inbound}
        if skipped:
            answer["skipped"] = skipped
        return JSONResponse(answer)


def whatsapp_router(receiver: Receiver) -> APIRouter:
    router = APIRouter(prefix="/whatsapp")

    @router.get("/{conn_id}")
    async def verify(conn_id: str, request: Request) -> Response:
        try:
            found = await receiver.credentials("whatsapp", conn_id)
        except ConfigurationError as exc:
            return receiver.refuse("whatsapp", conn_id, 403, f"connection cannot check tokens: {exc}")
        except CredentialsUnavailable as exc:
            return receiver.refuse("whatsapp", conn_id, 503, f"could not read the connection ({exc})")
        if found is None:
            return receiver.refuse("whatsapp", conn_id, 404, f"no connection named {conn_id[:100]!r}")
        q = request.query_params
        token = getattr(found, "verify_token", None)
        if q.get("hub.mode") == "subscribe" and token and q.get("hub.verify_token") == token:
            return PlainTextResponse(q.get("hub.challenge", ""))
        log.warning(
            "Refused a WhatsApp verification for connection %r: wrong hub.mode or verify token", conn_id
        )
        return PlainTextResponse("verification failed", status_code=403)

    return router


async def whatsapp_events(receiver: Receiver, conn_id: str, request: Request) -> Response:
    """``POST /whatsapp/{conn_id}``: Cloud API events."""
    body = await receiver.signed_body(
        request, "whatsapp", conn_id, header="X-Hub-Signature-256",
        secret=lambda found: found.app_secret, verify=whatsapp_webhooks.verify_signature,
    )  # fmt: skip
    if isinstance(body, Response):
        return body
    try:
        found = whatsapp_webhooks.read_webhook(load_json(body))
    except (ValueError, MalformedPayload) as exc:
        reason = str(exc) if isinstance(exc, MalformedPayload) else f"not JSON ({type(exc).__name__})"
        return receiver.refuse("whatsapp", conn_id, 400, f"malformed body: {reason}")
    for reason in found.skipped:
        log.warning("Skipped part of a WhatsApp webhook for connection %r: %s", conn_id, reason)
    return await receiver.save("whatsapp", found.statuses, found.inbound, len(found.skipped))


async def signalwire_events(receiver: Receiver, conn_id: str, request: Request) -> Response:
    """``POST /signalwire/{conn_id}``: status callbacks and inbound messages."""
    url = public_url(request)
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
            fields = load_json(body)  # parse_callback checks its shape
        else:
            fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
        parsed = signalwire_webhooks.parse_callback(fields)
    except (ValueError, MalformedPayload) as exc:  # UnicodeDecodeError is a ValueError
        reason = str(exc) if isinstance(exc, MalformedPayload) else f"not readable ({type(exc).__name__})"
        return receiver.refuse("signalwire", conn_id, 400, f"malformed body: {reason}")
    if isinstance(parsed, InboundMessage):
        return await receiver.save("signalwire", [], [parsed])
    return await receiver.save("signalwire", [parsed], [])


POST_ROUTES = {"whatsapp": whatsapp_events, "signalwire": signalwire_events}


class WebhookApp:
    """The receiver's ASGI app: ``POST /whatsapp/{conn_id}`` and ``POST /signalwire/{conn_id}`` are
    answered here directly, everything else (the verification handshake, ``/health``, 404s, the
    lifespan) by the FastAPI app. At thousands of webhooks a second FastAPI's routing and
    dependency solving cost more than the work itself (measured: about half the CPU of a request)."""

    def __init__(self, receiver: Receiver, app: FastAPI) -> None:
        self.receiver = receiver
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            parts = _route_path(scope).split("/")
            handler = POST_ROUTES.get(parts[1]) if len(parts) == 3 and parts[0] == "" and parts[2] else None
            if handler is not None:
                try:
                    response = await handler(self.receiver, parts[2], Request(scope, receive))
                except ClientDisconnect:  # the caller hung up before its body was read: no one to answer
                    return
                except Exception:
                    log.exception("The webhook receiver failed on a %s webhook", parts[1])
                    response = _error(500, "internal error")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _route_path(scope: Any) -> str:
    """The path below where the app is mounted (``/messaging`` in the api-server)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :]
    return path


def create_webhook_app(
    *,
    store: MessageStore | None = None,
    credentials: CredentialsResolver | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    name: str = "",
) -> WebhookApp:
    """The receiver as an app of its own; ``credentials`` defaults to the Airflow connections.
    ``name`` tells this receiver apart from others writing the same store (its liveness row)."""
    receiver = Receiver(store, credentials or AirflowConnections(), max_body_bytes, name=name)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # not run when mounted in the api-server (Starlette runs no lifespan of mounted apps):
        # there the first request starts the writer
        receiver.writer.start(SERVICES)
        if isinstance(receiver.resolve, AirflowConnections):  # import Airflow's models before traffic
            await run_in_threadpool(AirflowConnections.prepare)
        yield
        await run_in_threadpool(receiver.writer.stop)

    # no /docs or /openapi.json: the routes are public by necessity, nothing else should be
    app = FastAPI(
        title="Messaging webhooks (WhatsApp, SignalWire)", docs_url=None, redoc_url=None, openapi_url=None,
        lifespan=lifespan,
    )  # fmt: skip

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(whatsapp_router(receiver))
    return WebhookApp(receiver, app)
