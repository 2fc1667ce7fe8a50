"""Real Airflow processes for tests that need them: a migrated home and an API server on loopback."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

AIRFLOW = [sys.executable, "-m", "airflow"]
DAG_TEST = [sys.executable, "-m", "tests.dag.run_with_local_executor"]  # + a DAG file [+ run conf]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def airflow_env(home: pathlib.Path, dags_folder: pathlib.Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run([*AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)


@contextmanager
def api_server(env: dict[str, str], port: int, wait_seconds: float = 90.0) -> Iterator[str]:
    """Run ``airflow api-server`` on 127.0.0.1:port; yields its base URL."""
    log = pathlib.Path(env["AIRFLOW_HOME"]) / "api-server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its worker processes go with it
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                if httpx.get(f"{url}/api/v2/version", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"airflow api-server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        stop_group(proc)


@contextmanager
def airflow_process(
    env: dict[str, str], *args: str, log_name: str | None = None
) -> Iterator[subprocess.Popen[Any]]:
    """Run an Airflow component (``scheduler``, ``triggerer``, ``dag-processor``) until the block ends;
    its output goes to ``<AIRFLOW_HOME>/<log_name or component>.log``."""
    log = pathlib.Path(env["AIRFLOW_HOME"]) / f"{log_name or args[0]}.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*AIRFLOW, *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        stop_group(proc)


def run_in_own_group(
    args: list[str], env: dict[str, str], cwd: pathlib.Path, timeout: float
) -> tuple[str, str]:
    """Run a command whose children (e.g. LocalExecutor workers) must not outlive it; returns stdout, stderr."""
    proc = subprocess.Popen(
        args,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc)
        stdout, stderr = proc.communicate()
        home = pathlib.Path(env["AIRFLOW_HOME"])
        logs = "\n".join(f"--- {p.relative_to(home)}\n{p.read_text()[-2000:]}" for p in home.rglob("*.log"))
        raise AssertionError(
            f"{args[-1][:80]!r} still running after {timeout:.0f} s\n"
            f"stdout:\n{stdout[-4000:]}\nstderr:\n{stderr[-2000:]}\nlogs:\n{logs[-6000:]}"
        ) from None
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen[Any]) -> None:
    """Stop a process started with ``start_new_session=True`` and everything it started."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
            if sig == signal.SIGTERM:
                time.sleep(0.2)  # let children that got SIGTERM exit too
        except subprocess.TimeoutExpired:
            continue
