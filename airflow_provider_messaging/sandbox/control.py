"""The control API under ``/_sandbox/``: what was accepted, faults to inject, reset."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request

from .faults import FaultKnobs
from .magic import MAGIC_NUMBERS
from .registry import Registry
from .signalwire_rest import SignalWireRest


def control_router(registry: Registry, signalwire: SignalWireRest, state: Any) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/messages")
    async def messages(to: str | None = None, service: str | None = None) -> dict[str, Any]:
        rows = [m.control_view() for m in registry.all(service) if to is None or m.to == to]
        return {"messages": rows}

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

    @router.post("/reset")
    async def reset() -> dict[str, str]:
        signalwire.cancel_all()
        registry.clear()
        state.faults = FaultKnobs()
        return {"status": "reset"}

    return router
