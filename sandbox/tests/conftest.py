"""The sandbox in-process (``TestClient``) or on a loopback port with a webhook receiver beside it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from messaging_sandbox.app import create_app
from messaging_sandbox.config import SandboxConfig
from messaging_sandbox.server import BackgroundServer, SandboxServer

FAST = SandboxConfig(port=0, sent_delay=0.01, delivered_delay=0.01, read_delay=0.01)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(FAST)) as test_client:
        yield test_client


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    server: BackgroundServer
    hooks: list[Hook] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Records every POST it gets, raw, as a webhook receiver sees it."""
    app = FastAPI()
    hooks: list[Hook] = []

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/{path:path}")
    async def record(path: str, request: Request) -> dict[str, str]:
        query = f"?{request.url.query}" if request.url.query else ""
        hooks.append(Hook(f"/{path}{query}", dict(request.headers), await request.body()))
        return {}

    with BackgroundServer(app) as server:
        yield Receiver(server, hooks)


@pytest.fixture
def sandbox(receiver: Receiver) -> Iterator[SandboxServer]:
    """The sandbox on a loopback port, posting its WhatsApp webhooks to ``receiver``."""
    with SandboxServer(replace(FAST, webhook_url=f"{receiver.url}/whatsapp")) as server:
        yield server
