"""Run the sandbox: in the foreground (console command) or in a background thread (tests, demo)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from types import TracebackType
from typing import Any

import httpx
import uvicorn
from typing_extensions import Self

from .app import create_app
from .config import SandboxConfig


def serve(config: SandboxConfig) -> None:
    """Serve until interrupted."""
    uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="info",
                ssl_certfile=config.tls_certfile, ssl_keyfile=config.tls_keyfile)  # fmt: skip


class BackgroundServer:
    """An ASGI app on a loopback port in a daemon thread; ``url`` is set once ``health_path`` answers.

    With ``certfile`` and ``keyfile`` it serves https (and wss) instead of http.
    """

    health_path = "/health"

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.certfile, self.keyfile = certfile, keyfile
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, wait_seconds: float = 20.0) -> Self:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if family == socket.AF_INET6 else self.host
        self.url = f"{'https' if self.certfile else 'http'}://{host}:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", lifespan="on",
                                                     ssl_certfile=self.certfile, ssl_keyfile=self.keyfile))  # fmt: skip
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                # our own server on loopback: its certificate needs no checking here
                if httpx.get(f"{self.url}{self.health_path}", timeout=1.0, verify=False).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the server did not start on {self.url}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SandboxServer(BackgroundServer):
    """The sandbox in a background thread (tests, the demo); ``config.port`` 0 picks a free port."""

    health_path = "/_sandbox/health"

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig(port=0)
        super().__init__(create_app(self.config), self.config.host, self.config.port,
                         certfile=self.config.tls_certfile, keyfile=self.config.tls_keyfile)  # fmt: skip

    def start(self, wait_seconds: float = 20.0) -> Self:
        super().start(wait_seconds)
        self.config = replace(self.config, port=self.port)
        return self
