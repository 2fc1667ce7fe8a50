"""What several benchmarks need: a free loopback port, and a PostgreSQL schema of their own.

Not a benchmark (``run_all.py`` skips files whose names start with ``_``).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

POSTGRES_URL = os.environ.get(
    "MESSAGING_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
