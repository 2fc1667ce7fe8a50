"""Hermetic Airflow settings for every test, set before anything imports Airflow."""

from __future__ import annotations

import os
import pathlib
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
_home = pathlib.Path(tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
)
for key in list(os.environ):
    if key.startswith("AIRFLOW_CONN_"):
        del os.environ[key]

import pytest  # noqa: E402  (after the environment above)

pytest_plugins = ["tests.conftest_sandbox", "tests.store_backends", "tests.official_sdks"]


@pytest.fixture
def no_backoff(monkeypatch):
    """Retries and rate-limit pauses without the waiting, for tests of what is retried."""
    from airflow_provider_messaging.core.pacing import Pacer
    from airflow_provider_messaging.core.retry import RetryPolicy

    slow_down = Pacer.slow_down
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after: 0.0)
    monkeypatch.setattr(Pacer, "slow_down", lambda self, retry_after: slow_down(self, 0.0))


@pytest.fixture(autouse=True)
def no_relay_thread_left_behind():
    """A Relay client's threads end with the test that started them (none reconnects after the suite)."""
    import threading
    import time

    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while True:
        left = [
            t
            for t in threading.enumerate()
            if t not in before and t.name.startswith("relay-") and t.is_alive()
        ]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"Relay threads still running after the test: {[t.name for t in left]}"
