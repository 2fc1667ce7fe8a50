"""The sandbox as one FastAPI app: the service APIs, fault injection and the control API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from starlette.responses import Response

from .config import SandboxConfig
from .control import control_router
from .faults import FaultKnobs
from .registry import Registry
from .signalwire_rest import SignalWireRest, compat_error


def create_app(config: SandboxConfig | None = None) -> FastAPI:
    config = config or SandboxConfig()
    registry = Registry()
    signalwire = SignalWireRest(config, registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await signalwire.aclose()

    app = FastAPI(title="airflow-provider-messaging sandbox", lifespan=lifespan)
    app.state.config = config
    app.state.registry = registry
    app.state.faults = FaultKnobs(seed=config.seed)

    @app.middleware("http")
    async def inject_faults(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if not request.url.path.startswith("/api/"):
            return await call_next(request)
        knobs: FaultKnobs = app.state.faults
        if knobs.latency_ms:
            await asyncio.sleep(knobs.latency_ms / 1000)
        fault = knobs.draw()
        if fault == "rate_limit":
            return compat_error(429, 20429, "Too Many Requests", {"Retry-After": f"{knobs.retry_after:g}"})
        if fault == "error":
            return compat_error(knobs.error_status, 20500, "Internal Server Error (injected by the sandbox)")
        return await call_next(request)

    app.include_router(signalwire.router())
    app.include_router(control_router(registry, signalwire, app.state))
    return app
