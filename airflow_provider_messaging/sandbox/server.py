"""Run the sandbox: in the foreground (console command) or in a background thread (tests, demo)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from types import TracebackType

import httpx
import uvicorn

from .app import create_app
from .config import SandboxConfig


def serve(config: SandboxConfig) -> None:
    """Serve until interrupted."""
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="info")


class SandboxServer:
    """The sandbox on a loopback port in a daemon thread; ``url`` is set once it answers."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig(port=0)
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, wait_seconds: float = 20.0) -> SandboxServer:
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.port))
        port = sock.getsockname()[1]
        self.config = replace(self.config, port=port)
        host = f"[{self.config.host}]" if family == socket.AF_INET6 else self.config.host
        self.url = f"http://{host}:{port}"
        uv_config = uvicorn.Config(create_app(self.config), log_level="warning", lifespan="on")
        self._server = uvicorn.Server(uv_config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="messaging-sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                if httpx.get(f"{self.url}/_sandbox/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the sandbox did not start on {self.url}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
