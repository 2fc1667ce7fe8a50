"""Store fixtures for both supported databases: SQLite always, PostgreSQL when one answers locally."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from airflow_provider_messaging.store.store import MessageStore

POSTGRES_URL = os.environ.get(
    "MESSAGING_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_available() -> str | None:
    """``None`` when PostgreSQL answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:
        return f"no PostgreSQL at {POSTGRES_URL.split('@')[-1]}: {type(exc).__name__}: {exc}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[MessageStore]:
    """A fresh store; on PostgreSQL in a schema of its own, so concurrent test runs never meet."""
    if request.param == "sqlite":
        s = MessageStore(f"sqlite:///{tmp_path / 'store.db'}")
        yield s
        s.dispose()
        return
    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"messaging_test_{uuid.uuid4().hex[:12]}"
    plain = POSTGRES_URL.replace("+psycopg", "")
    with psycopg.connect(plain) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    s = MessageStore(f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}")
    try:
        yield s
    finally:
        s.dispose()
        with psycopg.connect(plain) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
