"""Work a sandbox service does after answering: status progressions and the callbacks they POST."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import httpx


class Background:
    """Tracks the tasks a service spawned (so reset can cancel them) and one shared HTTP client."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def cancel_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=5.0)
        return self._http

    async def aclose(self) -> None:
        self.cancel_all()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
