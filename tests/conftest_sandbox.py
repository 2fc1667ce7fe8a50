"""The sandbox as a pytest fixture: one server per test session on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from messaging_sandbox.config import SandboxConfig
from messaging_sandbox.server import SandboxServer


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """Fast progressions so tests stay quick; tests reset it through ``/_sandbox/reset``."""
    with SandboxServer(SandboxConfig(port=0, sent_delay=0.05, delivered_delay=0.05)) as server:
        yield server
