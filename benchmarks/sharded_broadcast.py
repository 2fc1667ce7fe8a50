"""A broadcast split into 1, 2 and 4 shards, each shard a process of its own (as on several
workers), all sending from one number through the sandbox, which runs in its own process too.

The shards share the number's rate budget through the status store (SQLite, and PostgreSQL when
one answers at ``MESSAGING_BENCH_POSTGRES_URL`` / 127.0.0.1:5432 db ``test``). The sandbox takes at
most 1.5 times the configured rate in any second and answers 429 beyond, as a number over its
throughput would. Printed per run: the combined rate at the sandbox (messages after the first /
time from the first to the last), its distance from the configured rate, the 429 answers, and
duplicates (recipients messaged more than once). Last, for contrast, 4 shards each pacing alone.

First the budget alone: shard processes running the send engine against a fake service that
answers in 20 ms (no HTTP, no sandbox), 80 and 1,000 msg/s configured, so the figures say what
the shared budget holds, not what the machine can push through HTTP. Then end to end through the
operator against the sandbox.

Usage: ``python benchmarks/sharded_broadcast.py [RATE [MESSAGES]]`` (end to end; default 100 msg/s, 2,000).
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import httpx
from _shared import (  # benchmarks/ is the script's folder
    PROJECT,
    SENDER,
    TOKEN,
    postgres_schema,
    sandbox_process,
)

REPO = pathlib.Path(__file__).resolve().parent.parent
LIMIT = 1.5  # the sandbox takes this many times the configured rate in any second
RUN_TIMEOUT = 300.0  # seconds one run of all shards may take at most


def run_shards(
    url: str, store_url: str, csv_path: str, count: int, rate: float, shared: bool
) -> dict[str, Any]:
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    httpx.put(
        f"{url}/_sandbox/faults", json={"throughput": int(rate * LIMIT), "retry_after": 1}
    ).raise_for_status()
    env = {
        **os.environ,
        "AIRFLOW__MESSAGING__STORE_URL": store_url,
        "AIRFLOW_CONN_SIGNALWIRE_DEFAULT": json.dumps({
            "conn_type": "signalwire", "host": "sandbox", "login": PROJECT, "password": TOKEN,
            "extra": {"base_url": url, "from_number": SENDER},
        }),
    }  # fmt: skip
    command = [
        sys.executable,
        __file__,
        "shard",
        "",
        str(count),
        csv_path,
        str(rate),
        "shared" if shared else "alone",
    ]
    outputs = start_together([[*command[:3], str(i), *command[4:]] for i in range(count)], env)
    reports = [json.loads(out.split("REPORT ", 1)[1]) for out in outputs]
    messages = httpx.get(f"{url}/_sandbox/messages", params={"service": "signalwire"}, timeout=120).json()[
        "messages"
    ]
    times = sorted(float(m["created_at"]) for m in messages)
    per_recipient = collections.Counter(m["to"] for m in messages)
    peak, first = 0, 0
    for last, at in enumerate(times):  # the most messages the sandbox took in any one second
        while times[first] <= at - 1.0:
            first += 1
        peak = max(peak, last - first + 1)
    return {
        "messages": len(messages),
        "achieved": (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0,
        "peak": peak,
        "rate_limited": sum(int(r.get("rate_limited") or 0) for r in reports),
        "duplicates": sum(n - 1 for n in per_recipient.values()),
        "not_sent": sum(int(r.get("failed") or 0) + int(r.get("unknown") or 0) for r in reports),
    }


def shard_main(index: int, count: int, csv_path: str, rate: float, shared: bool) -> None:
    """One shard, as its map index runs on a worker."""
    from airflow_provider_messaging.operators.broadcast import SignalWireBroadcastOperator

    class TaskInstance:
        dag_id, task_id, run_id, try_number = "bench", "broadcast", f"bench__{uuid.uuid4().hex}", 1
        map_index = index

        def __init__(self) -> None:
            self.xcom: dict[str, Any] = {}

        def xcom_push(self, key: str, value: Any) -> None:
            self.xcom[key] = value

    operator = SignalWireBroadcastOperator(
        task_id="broadcast", csv_path=csv_path, body="Hi {name}", rate=rate, shard=(index, count),
        progress_interval=3600,
    )  # fmt: skip
    if not shared:  # for contrast: each shard paces alone, as before the shared budget
        operator._rate_budget = lambda rate: None  # type: ignore[method-assign]
    ti = TaskInstance()
    import airflow_provider_messaging.sending  # noqa: F401 (imported before the start, not timed)
    from airflow_provider_messaging.store.store import MessageStore

    MessageStore().ensure_schema()
    print("READY", flush=True)
    sys.stdin.readline()
    operator.execute({"ti": ti})  # type: ignore[typeddict-item]
    print("REPORT " + json.dumps(ti.xcom["report"]), flush=True)


def engine_shard_main(index: int, count: int, sends: int, rate: float, store_url: str) -> None:
    """One shard of the budget-alone runs: the send engine with a fake 20 ms service, no HTTP."""
    import asyncio

    from airflow_provider_messaging.core.engine import PreparedSend, SendEngine, SendResult
    from airflow_provider_messaging.core.rows import Row
    from airflow_provider_messaging.store.rate_budget import open_rate_budget
    from airflow_provider_messaging.store.store import MessageStore

    store = MessageStore(store_url)
    budget = open_rate_budget("whatsapp", "bench-number", store)
    budget.reserve(1, 1e-9)  # connect and create the row before the start
    times: list[float] = []

    class FakeService:
        recipient_interval = 0.0

        async def send(self, item: PreparedSend[None]) -> SendResult:
            times.append(time.time())
            await asyncio.sleep(0.02)
            return SendResult(f"id-{index}-{item.row}", item.recipient)

    engine: SendEngine[None] = SendEngine(
        prepare=lambda row: PreparedSend(row.number, str(row.values["to"]), None, None), sender=FakeService(),
        rate=rate, concurrency=min(64, max(4, int(rate // 2))), rate_budget=budget, progress_interval=3600,
    )  # fmt: skip
    print("READY", flush=True)
    sys.stdin.readline()
    asyncio.run(engine.run(Row(n, {"to": f"+1555{index}{n:06d}"}) for n in range(1, sends // count + 1)))
    budget.close()
    print("TIMES " + json.dumps(times), flush=True)


def start_together(commands: list[list[str]], env: dict[str, str]) -> list[str]:
    """Start one process per command; when each is ready, let all go at once; their outputs."""
    procs = [
        subprocess.Popen(
            command,
            env=env,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "READY":
                raise SystemExit(f"a shard did not start:\n{proc.communicate()[1][-3000:]}")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("GO\n")
            proc.stdin.flush()
        outputs = []
        for proc in procs:
            out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 1.0))
            if proc.returncode != 0:
                raise SystemExit(f"a shard failed:\n{err[-3000:]}")
            outputs.append(out)
        return outputs
    except subprocess.TimeoutExpired:
        raise SystemExit(f"the shards did not finish in {RUN_TIMEOUT:.0f} s") from None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def budget_alone(store_url: str, count: int, rate: float, sends: int) -> float:
    command = [sys.executable, __file__, "engine-shard", "", str(count), str(sends), str(rate), store_url]
    outputs = start_together([[*command[:3], str(i), *command[4:]] for i in range(count)], dict(os.environ))
    times = sorted(t for out in outputs for t in json.loads(out.split("TIMES ", 1)[1]))
    return (len(times) - 1) / (times[-1] - times[0])


def line(label: str, rate: float, result: dict[str, Any]) -> str:
    achieved = result["achieved"]
    return (
        f"  {label:<28}: {result['messages']:5d} SMS, combined {achieved:8.2f} msg/s "
        f"({100 * (achieved - rate) / rate:+.2f} % of {rate:g}), busiest second {result['peak']}, 429 answers: {result['rate_limited']}, "
        f"duplicates: {result['duplicates']}"
        + (f", refused or in doubt: {result['not_sent']}" if result["not_sent"] else "")
    )


def main(rate: float, messages: int) -> None:
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="messaging-shards-"))
    with postgres_schema("messaging_bench") as (postgres, why):
        if postgres is None:
            print(f"  (PostgreSQL skipped: {why})")
        stores = [("SQLite", f"sqlite:///{tmp / 'store.db'}")] + (
            [("PostgreSQL", postgres)] if postgres else []
        )
        print("the shared rate budget alone: each shard a process running the send engine against a fake")
        print(
            "service that answers in 20 ms (no HTTP); combined = sends after the first / time first to last:"
        )
        for name, store_url in stores:
            for budget_rate, seconds in ((80.0, 10), (1000.0, 10)):
                for count in (1, 2, 4):
                    achieved = budget_alone(store_url, count, budget_rate, int(budget_rate * seconds))
                    print(
                        f"  {name:<10} {budget_rate:6g} msg/s configured, {count} shard(s): combined "
                        f"{achieved:8.2f} msg/s ({100 * (achieved - budget_rate) / budget_rate:+.2f} %)",
                        flush=True,
                    )
        csv_path = tmp / "rows.csv"
        csv_path.write_text("to,name\n" + "".join(f"+1555{9000000 + n:07d},u{n}\n" for n in range(messages)))
        print(
            f"through the operator: one broadcast of {messages} SMS from one number, configured {rate:g} msg/s, "
            f"in shards (a process each) against the sandbox (its own process), which answers 429 over "
            f"{int(rate * LIMIT)} requests in any second:"
        )
        with sandbox_process() as url:
            for name, store_url in stores:
                for count in (1, 2, 4):
                    result = run_shards(url, store_url, str(csv_path), count, rate, shared=True)
                    print(line(f"{name}, {count} shard(s), shared", rate, result), flush=True)
            result = run_shards(url, stores[0][1], str(csv_path), 4, rate, shared=False)
            print(line("4 shards, each pacing alone", rate, result), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["engine-shard"]:
        index, count, sends, rate, store_url = sys.argv[2:7]
        engine_shard_main(int(index), int(count), int(sends), float(rate), store_url)
    elif sys.argv[1:2] == ["shard"]:
        index, count, csv_path, rate, mode = sys.argv[2:7]
        shard_main(int(index), int(count), csv_path, float(rate), mode == "shared")
    else:
        main(
            float(sys.argv[1]) if len(sys.argv) > 1 else 100.0,
            int(sys.argv[2]) if len(sys.argv) > 2 else 2000,
        )
