"""What several benchmarks need: a free loopback port, the sandbox in a process of its own, and a
PostgreSQL schema of their own.

Not a benchmark (``run_all.py`` skips files whose names start with ``_``).
"""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

# the sandbox's SignalWire credentials and sending number for every benchmark
PROJECT, TOKEN, SENDER = "bench-project", "bench-token", "+15551230001"
POSTGRES_URL = os.environ.get(
    "MESSAGING_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sandbox_process() -> Iterator[str]:
    """``messaging-sandbox`` on a free loopback port (statuses after 50 ms); yields its URL."""
    port = free_port()
    sandbox = pathlib.Path(sys.executable).parent / "messaging-sandbox"
    proc = subprocess.Popen(
        [str(sandbox), "--port", str(port), "--signalwire-project", PROJECT, "--signalwire-token", TOKEN,
         "--sent-delay", "0.05", "--delivered-delay", "0.05"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/_sandbox/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def postgres_schema(prefix: str) -> Iterator[tuple[str | None, str]]:
    """A store URL on a new schema of ``POSTGRES_URL``'s database, dropped afterwards; or None and
    why there is none (no server answers)."""
    try:
        import psycopg

        plain = POSTGRES_URL.replace("+psycopg", "")
        schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(plain, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
    except Exception as exc:
        yield (
            None,
            f"no PostgreSQL at {POSTGRES_URL.split('@')[-1]} ({type(exc).__name__}: {str(exc).strip()[:120]})",
        )
        return
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}", ""
    finally:
        with psycopg.connect(plain) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
