"""A broadcast in four shards on two Celery workers, with real Airflow processes.

Airflow's api-server, scheduler and dag-processor and two ``airflow celery worker`` processes (two
slots each) run against a throwaway home: metadata and the status store in a PostgreSQL database of
their own, Redis on 127.0.0.1:6379 as the broker, a queue of their own. The sandbox plays
SignalWire and takes at most 1.5 times the configured rate in any second (429 beyond). One worker
is SIGKILLed while the shards send; its shards are retried on the other. Every wait is bounded.
"""

from __future__ import annotations

import collections
import contextlib
import json
import pathlib
import shutil
import socket
import time
import uuid
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.dag.airflow_processes import airflow_env, airflow_process, api_server, free_port, migrate
from tests.dag.test_hitl_in_airflow import PASSWORDS, Airflow, wait_for
from tests.store_backends import POSTGRES_URL, postgres_available

pytestmark = pytest.mark.dag

REPO = pathlib.Path(__file__).resolve().parents[2]
ROWS = 600
RATE = 30.0  # tests/dags/sharded_sms_broadcast.py


def redis_unavailable() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=3) as s:
            s.sendall(b"PING\r\n")
            if s.recv(64).startswith(b"+PONG"):
                return None
            return "Redis at 127.0.0.1:6379 did not answer PING"
    except OSError as exc:
        return f"no Redis at 127.0.0.1:6379: {exc}"


@pytest.fixture
def database():
    """A PostgreSQL database of its own for Airflow's metadata and the status store."""
    reason = postgres_available() or redis_unavailable()
    if reason:
        pytest.skip(reason)
    import psycopg

    name = f"messaging_celery_{uuid.uuid4().hex[:10]}"
    server = POSTGRES_URL.replace("+psycopg", "")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sandbox():
    from messaging_sandbox.config import SandboxConfig
    from messaging_sandbox.server import SandboxServer

    with SandboxServer(SandboxConfig(port=0, sent_delay=0.05, delivered_delay=0.05)) as server:
        httpx.put(f"{server.url}/_sandbox/faults", json={"throughput": int(RATE * 1.5), "retry_after": 1})
        yield server


def forget_queue(queue: str) -> None:
    """Leave the shared Redis as it was: our queue, and messages of a killed worker kept for redelivery."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, db=0, socket_timeout=5)
    client.delete(queue)
    for tag, payload in client.hgetall("unacked").items():
        if queue.encode() in payload:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
    client.close()


def kill_with_its_tasks(proc: Any) -> None:
    import psutil

    worker = psutil.Process(proc.pid)
    for process in [worker, *worker.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    proc.wait(30)


def busiest_second(times: list[float]) -> int:
    peak, first = 0, 0
    for last, at in enumerate(times):
        while times[first] <= at - 1.0:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


def test_four_shards_on_two_celery_workers_share_the_rate_and_message_everyone_once(
    tmp_path, database, sandbox
):
    home, dags, port, queue = (
        tmp_path / "home",
        tmp_path / "dags",
        free_port(),
        f"messaging_{uuid.uuid4().hex[:8]}",
    )
    api = f"http://127.0.0.1:{port}"
    for folder in (home, dags):
        folder.mkdir()
    shutil.copy(REPO / "tests" / "dags" / "sharded_sms_broadcast.py", dags)
    (home / "passwords.json").write_text(json.dumps(PASSWORDS))
    numbers = [f"+1555{7000000 + n:07d}" for n in range(ROWS)]
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("to,name,code\n" + "".join(f"{n},u{i},{i}\n" for i, n in enumerate(numbers)))
    env = airflow_env(
        home, dags,
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=database,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC=database,  # psycopg 3 is async too: no asyncpg needed
        AIRFLOW__CELERY__BROKER_URL="redis://127.0.0.1:6379/0",
        AIRFLOW__CELERY__RESULT_BACKEND="redis://127.0.0.1:6379/0",
        AIRFLOW__OPERATORS__DEFAULT_QUEUE=queue,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{api}/execution/",
        AIRFLOW__API__BASE_URL=api,
        AIRFLOW__API_AUTH__JWT_SECRET="celery-test-jwt-secret-" + "0123456789abcdef" * 4,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(home / "passwords.json"),
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="20",
        AIRFLOW__MESSAGING__STORE_URL=database,
        AIRFLOW_CONN_SIGNALWIRE_DEFAULT=json.dumps({"conn_type": "signalwire", "host": "sandbox",
            "login": sandbox.config.signalwire_project, "password": sandbox.config.signalwire_token,
            "extra": {"from_number": "+15551230001", "base_url": sandbox.url}}),
    )  # fmt: skip
    migrate(env)

    def worker(name: str) -> Any:
        return airflow_process(
            {**env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
            "celery", "worker", "--queues", queue, "--concurrency", "2", "--celery-hostname", f"{name}@{queue}",
            "--pid", str(home / f"{name}.pid"), "--without-mingle", "--without-gossip", log_name=f"worker-{name}",
        )  # fmt: skip

    with ExitStack() as running:
        running.callback(forget_queue, queue)
        running.enter_context(api_server(env, port))
        for component in ("dag-processor", "scheduler"):
            running.enter_context(airflow_process(env, component))
        first = running.enter_context(worker("first"))
        second = running.enter_context(worker("second"))
        airflow = Airflow(api)
        wait_for(
            "the parsed DAG",
            lambda: airflow.http.get("/dags/sharded_sms_broadcast").status_code == 200,
            180,
            home,
        )
        dag_id = "sharded_sms_broadcast"
        run_id = airflow.trigger(dag_id, {"csv_path": str(csv_path)})

        def count() -> int:
            return int(
                httpx.get(f"{sandbox.url}/_sandbox/messages/count", params={"service": "signalwire"}).json()[
                    "count"
                ]
            )

        wait_for("a third of the messages sent", lambda: count() >= ROWS // 3, 300, home)
        # the second worker dies with the shards it runs (the task processes under it too); the
        # scheduler sees their heartbeats stop and retries them, on the first worker
        killed_at = time.time()
        kill_with_its_tasks(second)
        assert count() < ROWS, "the broadcast finished before a worker could be killed"
        wait_for(
            "the run to end", lambda: airflow.run_state(dag_id, run_id) in ("success", "failed"), 600, home
        )
        mapped = airflow.http.get(
            f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/broadcast/listMapped"
        ).json()
        shards = {ti["map_index"]: (ti["state"], ti["try_number"]) for ti in mapped["task_instances"]}
        gate = airflow.http.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/gate").json()
        reports = [
            json.loads(json.dumps(airflow.http.get(
                f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/broadcast/xcomEntries/report",
                params={"map_index": index, "deserialize": True},
            ).json().get("value")))
            for index in range(4)
        ]  # fmt: skip
        assert first.poll() is None, (home / "worker-first.log").read_text()[-3000:]

    messages = httpx.get(f"{sandbox.url}/_sandbox/messages", params={"service": "signalwire"}).json()[
        "messages"
    ]
    per_recipient = collections.Counter(m["to"] for m in messages)
    times = sorted(float(m["created_at"]) for m in messages)
    before = [t for t in times if t < killed_at]  # all four shards sending, before the kill
    combined = (len(before) - 1) / (before[-1] - before[0])
    retried = sorted(index for index, (_, tries) in shards.items() if tries > 1)
    print(
        f"\n4 shards on 2 Celery workers (one killed mid-run; shards {retried} retried), configured "
        f"{RATE:g} msg/s: {len(messages)} SMS; until the kill {len(before)} SMS, combined {combined:.2f} msg/s "
        f"({100 * (combined - RATE) / RATE:+.2f} %), busiest second {busiest_second(times)}, "
        f"429 answers {sum(int((r or {}).get('rate_limited') or 0) for r in reports)}, "
        f"duplicates {sum(n - 1 for n in per_recipient.values())}"
    )
    assert sorted(shards) == [0, 1, 2, 3] and all(state == "success" for state, _ in shards.values()), shards
    assert retried, "no shard was retried after the worker was killed"
    assert gate["state"] == "success", gate
    assert max(per_recipient.values()) == 1  # nobody messaged twice, retries included
    assert set(per_recipient) <= set(numbers)
    # everyone has the message, except sends in doubt when the worker died (claimed, then killed)
    unknown = sum(int((r or {}).get("unknown") or 0) for r in reports)
    assert len(per_recipient) + unknown >= ROWS and unknown <= ROWS * 0.05
    assert sum(int((r or {}).get("rate_limited") or 0) for r in reports) == 0  # no 429 of our own making
