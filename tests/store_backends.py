"""Store fixtures for both supported databases: SQLite always, PostgreSQL when one answers locally."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from airflow_provider_messaging.tracking.store import MessageStore, metadata

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
    if request.param == "sqlite":
        s = MessageStore(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        reason = postgres_available()
        if reason:
            pytest.skip(reason)
        s = MessageStore(POSTGRES_URL)
        metadata.drop_all(s.engine)
    try:
        yield s
    finally:
        if request.param == "postgresql":
            metadata.drop_all(s.engine)
        s.dispose()
