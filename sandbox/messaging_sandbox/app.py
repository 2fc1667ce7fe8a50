"""The sandbox as one FastAPI app: the service APIs, fault injection and the control API."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import SandboxConfig
from .control import control_router
from .faults import FaultKnobs
from .registry import Registry
from .signalwire_messaging import ERRORS_URL, SignalWireMessaging
from .signalwire_relay import RelayServer
from .signalwire_rest import SignalWireRest, compat_error
from .user_replies import replies_router
from .whatsapp_cloud import GraphError, WhatsAppCloud

_GRAPH_PATH = re.compile(r"^/v[0-9]+\.[0-9]+/")


def _fault_response(path: str, fault: str, knobs: FaultKnobs) -> Response:
    """A fault in the answering service's own error format."""
    headers = {"Retry-After": f"{knobs.retry_after:g}"}
    if _GRAPH_PATH.match(path):
        if fault == "rate_limit":
            error = GraphError(
                130429, "Rate limit hit", "Cloud API message throughput has been reached.", status=429
            )
        else:
            error = GraphError(
                131000, "Something went wrong", "Injected by the sandbox.", status=knobs.error_status
            )
        response = error.response()
        response.headers.update(headers)
        return response
    if path.startswith("/api/messaging/"):  # the /api/* shape
        if fault == "rate_limit":
            return JSONResponse({"errors": [{"type": "rate_limit_error", "code": "rate_limit_exceeded",
                                             "message": "The rate limit has been exceeded.", "attribute": None,
                                             "url": f"{ERRORS_URL}#rate_limit_exceeded"}]},
                                status_code=429, headers=headers)  # fmt: skip
        return JSONResponse({"error": "Internal Server Error"}, status_code=knobs.error_status)
    if fault == "rate_limit":
        return compat_error(429, 20429, "Too Many Requests", headers)
    return compat_error(knobs.error_status, 20500, "Internal Server Error (injected by the sandbox)")


class FaultInjection:
    """Plain ASGI middleware (cheap per request) applying the fault knobs to the service APIs."""

    def __init__(self, app: ASGIApp, state: Any) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path.startswith("/api/") or _GRAPH_PATH.match(path)):
            await self.app(scope, receive, send)
            return
        knobs: FaultKnobs = self.state.faults
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        fault = knobs.draw()
        if fault is None:
            await self.app(scope, receive, send)
        elif fault == "stall":  # handled (the message is accepted), answered late

            async def send_late(message: Message) -> None:
                if message["type"] == "http.response.start":
                    await asyncio.sleep(knobs.stall_seconds)
                await send(message)

            await self.app(scope, receive, send_late)
        else:
            await _fault_response(path, fault, knobs)(scope, receive, send)


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    config = config or SandboxConfig()
    registry = Registry()
    signalwire = SignalWireRest(config, registry)
    whatsapp = WhatsAppCloud(config, registry)
    relay = RelayServer(config, registry, signalwire)
    messaging = SignalWireMessaging(config, registry, signalwire)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await signalwire.aclose()
        await whatsapp.aclose()

    app = FastAPI(title="airflow-messaging-sandbox", lifespan=lifespan)
    app.state.config = config
    app.state.registry = registry
    app.state.faults = FaultKnobs(seed=config.seed)

    app.add_middleware(FaultInjection, state=app.state)

    app.include_router(control_router(registry, signalwire, whatsapp, app.state, relay))
    app.include_router(replies_router(config, registry, whatsapp))
    app.add_api_websocket_route("/", relay.endpoint)  # Relay has no path, as on the real service
    app.include_router(signalwire.router())
    app.include_router(messaging.router())
    app.include_router(whatsapp.router())
    return app
