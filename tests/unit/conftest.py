"""Unit tests mock HTTP with respx, which patches httpx: their async clients do their I/O with httpx.

The default async I/O (aiohttp, ``core/aiohttp_io.py``) has its own unit tests against a local
socket (``test_aiohttp_io.py``) and runs in every integration and DAG test against the sandbox.
"""

from __future__ import annotations

import pytest

from airflow_provider_messaging.core.http import ASYNC_CLIENT_ENV


@pytest.fixture(autouse=True)
def async_io_on_httpx(monkeypatch, request):
    if request.node.get_closest_marker("aiohttp") is None:
        monkeypatch.setenv(ASYNC_CLIENT_ENV, "httpx")
