"""Waiting at scale: 1,000 deferred delivery gates in one process, against the status store.

The gates are ``StoreStatusTrigger``s (what a deferrable ``WhatsAppMessageSensor`` hands to the
triggerer), 10 messages each, run as tasks on one asyncio loop in their own process, as the
triggerer runs them. A writer process lands a ``delivered`` status for each of the 10,000 messages
at a random moment over 60 s, as the webhook receiver would. Figures: the gate process's CPU
share of one core and peak RSS while waiting, and the time from a gate's last status landing in
the store to its trigger's event (p50, p95).

For comparison, the same wait in poke mode: one ``WhatsAppMessageSensor`` poking every second in
a process of its own, as a worker runs it; a thousand of them hold a thousand worker slots.

Usage: ``python benchmarks/deferred_gates.py`` (SQLite store; set ``MESSAGING_BENCH_STORE_URL`` for
another, e.g. PostgreSQL).
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
GATES, PER_GATE, WINDOW = 1000, 10, 60.0

GATES_PROCESS = """
import asyncio, json, resource, sys, time
sys.path.insert(0, {repo!r})
from airflow_provider_messaging.triggers.delivery import StoreStatusTrigger

async def main():
    fired = {{}}

    async def gate(n):
        trigger = StoreStatusTrigger(
            service="whatsapp", store_url={url!r}, message_ids=[f"g{{n}}-m{{i}}" for i in range({per})],
            success_states=["delivered"], failure_states=["failed"], poll_interval=60.0)
        event = await trigger.run().__anext__()
        fired[n] = (time.time(), event.payload["status"])

    tasks = [asyncio.create_task(gate(n)) for n in range({gates})]
    await asyncio.sleep(2)  # every gate has made its first look
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start_cpu, start_wall = usage.ru_utime + usage.ru_stime, time.time()
    print("READY", flush=True)
    await asyncio.wait(tasks, timeout={window} + 30)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print("RESULT " + json.dumps({{
        "cpu": usage.ru_utime + usage.ru_stime - start_cpu, "wall": time.time() - start_wall,
        "maxrss_kib": usage.ru_maxrss, "fired": fired}}), flush=True)

asyncio.run(main())
"""

POKE_PROCESS = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from airflow_provider_messaging.sensors.whatsapp import WhatsAppMessageSensor
sensor = WhatsAppMessageSensor(task_id="gate", message_ids=[f"poke-m{{i}}" for i in range({per})],
                               store_url={url!r}, poke_interval=1, timeout=600)
sensor.poke({{}})
usage = resource.getrusage(resource.RUSAGE_SELF)
start_cpu, start_wall = usage.ru_utime + usage.ru_stime, time.time()
print("READY", flush=True)
sensor.execute({{}})
done = time.time()
usage = resource.getrusage(resource.RUSAGE_SELF)
print("RESULT " + json.dumps({{"cpu": usage.ru_utime + usage.ru_stime - start_cpu, "wall": done - start_wall,
                              "maxrss_kib": usage.ru_maxrss, "done": done}}), flush=True)
"""


def start(code: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, cwd=REPO)  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY"):
            return proc
    raise RuntimeError("the waiting process did not start")


def result(proc: subprocess.Popen[str]) -> dict:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            proc.wait()
            return dict(json.loads(line[len("RESULT ") :]))
    raise RuntimeError("the waiting process printed no result")


def land(store, schedule: list[tuple[float, str]], started: float) -> dict[str, float]:
    """Record each status at its moment (in small batches); returns id -> time it was committed."""
    from airflow_provider_messaging.core.events import StatusEvent
    from airflow_provider_messaging.core.states import MessageState

    landed: dict[str, float] = {}
    index = 0
    while index < len(schedule):
        now = time.time() - started
        batch = []
        while index < len(schedule) and schedule[index][0] <= now:
            batch.append(schedule[index][1])
            index += 1
        if batch:
            store.record_statuses(
                StatusEvent("whatsapp", m, MessageState.DELIVERED, "delivered", time.time()) for m in batch
            )
            committed = time.time()
            landed.update((m, committed) for m in batch)
        time.sleep(0.02)
    return landed


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else values[0]


def main() -> int:
    from airflow_provider_messaging.store.store import MessageStore

    with tempfile.TemporaryDirectory(prefix="bench-gates-") as tmp:
        url = os.environ.get("MESSAGING_BENCH_STORE_URL") or f"sqlite:///{tmp}/store.db"
        store = MessageStore(url)
        store.ensure_schema()
        where = "PostgreSQL" if url.startswith("postgresql") else "SQLite"

        gates = start(GATES_PROCESS.format(repo=str(REPO), url=url, per=PER_GATE, gates=GATES, window=WINDOW))
        rng = random.Random(5)
        schedule = sorted(
            (rng.uniform(0, WINDOW), f"g{n}-m{i}") for n in range(GATES) for i in range(PER_GATE)
        )
        landed = land(store, schedule, time.time())
        r = result(gates)
        latencies = []
        for n in range(GATES):
            fired = r["fired"].get(str(n))
            if fired is not None:
                latencies.append(fired[0] - max(landed[f"g{n}-m{i}"] for i in range(PER_GATE)))
        print(f"{GATES} deferred gates x {PER_GATE} messages in one process, store on {where}, "
              f"statuses landing over {WINDOW:.0f} s:")  # fmt: skip
        print(f"  gates released: {len(latencies)} of {GATES}")
        print(f"  CPU: {100 * r['cpu'] / r['wall']:.1f} % of one core over {r['wall']:.0f} s; "
              f"peak RSS {r['maxrss_kib'] / 1024:.0f} MiB")  # fmt: skip
        print(f"  status landed -> trigger event: p50 {percentile(latencies, 50):.2f} s, "
              f"p95 {percentile(latencies, 95):.2f} s, max {max(latencies):.2f} s")  # fmt: skip

        poke = start(POKE_PROCESS.format(repo=str(REPO), url=url, per=PER_GATE))
        time.sleep(20)
        landed = land(store, [(0.0, f"poke-m{i}") for i in range(PER_GATE)], time.time())
        p = result(poke)
        print("the same wait in poke mode (one sensor, poke_interval=1 s, its own process as on a worker):")
        print(f"  CPU: {100 * p['cpu'] / p['wall']:.1f} % of one core; peak RSS {p['maxrss_kib'] / 1024:.0f} MiB; "
              f"released {p['done'] - max(landed.values()):.2f} s after the statuses landed")  # fmt: skip
        print(f"  a thousand of them: {GATES} worker slots held, ~{GATES * p['maxrss_kib'] / 1024 / 1024:.0f} GiB "
              f"of RSS, ~{100 * GATES * p['cpu'] / p['wall']:.0f} % of a core")  # fmt: skip
        store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
