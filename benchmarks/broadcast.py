"""Broadcast figures against the sandbox running in its own process on loopback.

1. Throughput with pacing off: the broadcast engine (ledger included, as the operator runs it)
   against a naive sequential httpx loop and a raw async load generator at the same concurrency.
2. Rate accuracy at 80 and 1,000 msg/s configured: achieved rate and 429 answers.
3. 100,000 recipients from a CSV: peak RSS growth of the process running the broadcast.
4. Chaos: 20,000 recipients, the sandbox answering 5 % 5xx, 3 % 429 and 1 % stalls (the message is
   accepted, the answer comes after the client gave up), the task SIGKILLed twice and retried:
   duplicates at the sandbox and recipients the final report does not account for.

Usage: ``python benchmarks/broadcast.py [throughput|rate|memory|chaos ...]`` (all by default).
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx
from _shared import PROJECT, SENDER, TOKEN, sandbox_process  # benchmarks/ is the script's folder

REPO = pathlib.Path(__file__).resolve().parent.parent
CONCURRENCY = 32


def reset(url: str, **faults: Any) -> None:
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    if faults:
        httpx.put(f"{url}/_sandbox/faults", json=faults).raise_for_status()


def accepted_numbers(url: str) -> list[str]:
    messages = httpx.get(f"{url}/_sandbox/messages", params={"service": "signalwire"}, timeout=120).json()
    return [m["to"] for m in messages["messages"]]


def accepted_count(url: str) -> int:
    return int(httpx.get(f"{url}/_sandbox/messages/count", params={"service": "signalwire"}).json()["count"])


def numbers(count: int) -> list[str]:
    return [f"+1555{3_000_000 + n:07d}" for n in range(count)]  # clear of the magic numbers


def messages_path() -> str:
    return f"/api/laml/2010-04-01/Accounts/{PROJECT}/Messages.json"


# -- 1. throughput ----------------------------------------------------------------------------


def naive_loop(url: str, to: list[str]) -> float:
    started = time.perf_counter()
    with httpx.Client(base_url=url, auth=(PROJECT, TOKEN)) as client:
        for number in to:
            client.post(messages_path(), data={"To": number, "From": SENDER, "Body": "hi"}).raise_for_status()
    return len(to) / (time.perf_counter() - started)


async def raw_async(url: str, to: list[str], per_pool: int) -> float:
    """Bare POSTs from CONCURRENCY tasks over pools of ``per_pool`` connections each."""
    limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for number in to:
        queue.put_nowait(number)
    clients = [
        httpx.AsyncClient(base_url=url, auth=(PROJECT, TOKEN), limits=limits)
        for _ in range(CONCURRENCY // per_pool)
    ]

    async def worker(index: int) -> None:
        client = clients[index % len(clients)]
        while not queue.empty():
            number = queue.get_nowait()
            response = await client.post(messages_path(), data={"To": number, "From": SENDER, "Body": "hi"})
            response.raise_for_status()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    return len(to) / elapsed


def engine_run(
    url: str,
    to: list[str],
    rate: float | None,
    store_dir: pathlib.Path,
    send_times: list[float] | None = None,
) -> tuple[float, Any]:
    """The engine as the operator runs it: the REST sender over small client pools without retries of
    their own, ledger on SQLite."""
    from airflow_provider_messaging.core.engine import PreparedSend, SendEngine, SendResult
    from airflow_provider_messaging.core.http import client_shards
    from airflow_provider_messaging.core.retry import NO_RETRIES
    from airflow_provider_messaging.core.rows import Row, iter_rows
    from airflow_provider_messaging.signalwire.credentials import SignalWireCredentials
    from airflow_provider_messaging.signalwire.rest import AsyncSignalWireRestClient
    from airflow_provider_messaging.signalwire.sender import RestSender, Sms
    from airflow_provider_messaging.store.ledger import LedgerScope, SendLedger
    from airflow_provider_messaging.store.store import MessageStore

    store = MessageStore(f"sqlite:///{store_dir / f'ledger-{time.monotonic_ns()}.db'}")
    scope = LedgerScope("signalwire", "bench", "broadcast", "run", -1, 1)
    credentials = SignalWireCredentials(project_id=PROJECT, api_token=TOKEN, base_url=url)
    sms = Sms(SENDER, "hi")

    def prepare(row: Row) -> PreparedSend[Sms]:
        return sms.to(row.number, str(row.values["to"]))

    async def make(connections: int) -> AsyncSignalWireRestClient:
        return AsyncSignalWireRestClient(credentials, retry_policy=NO_RETRIES, max_connections=connections)

    class TimedSender(RestSender):
        async def send(self, item: PreparedSend[Sms]) -> SendResult:
            if send_times is not None:
                send_times.append(time.perf_counter())
            return await super().send(item)

    async def main() -> Any:
        async with client_shards(make, CONCURRENCY) as next_client:
            engine: SendEngine[Sms] = SendEngine(
                prepare=prepare, sender=TimedSender(next_client), ledger=SendLedger(store, scope), rate=rate,
                concurrency=CONCURRENCY, progress_interval=3600,
            )  # fmt: skip
            return await engine.run(iter_rows(to))

    started = time.perf_counter()
    report = asyncio.run(main())
    elapsed = time.perf_counter() - started
    store.dispose()
    return report.accepted / elapsed, report


def bench_throughput(url: str, tmp: pathlib.Path) -> None:
    count = 3000
    reset(url)
    naive = naive_loop(url, numbers(count))
    reset(url)
    raw_one_pool = asyncio.run(raw_async(url, numbers(count), per_pool=CONCURRENCY))
    reset(url)
    raw = asyncio.run(raw_async(url, numbers(count), per_pool=4))
    reset(url)
    engine, report = engine_run(url, numbers(count), None, tmp)
    assert report.accepted == count, report.summary()
    print(f"throughput, {count} SMS, pacing off, concurrency {CONCURRENCY}, sandbox in its own process:")
    print(f"  naive sequential httpx loop : {naive:8.0f} msg/s")
    print(
        f"  raw async, one pool of {CONCURRENCY}   : {raw_one_pool:8.0f} msg/s   (httpx slows as a pool grows)"
    )
    print(f"  raw async, pools of 4       : {raw:8.0f} msg/s   (the ceiling)")
    print(
        f"  send engine + ledger        : {engine:8.0f} msg/s   = {engine / naive:.1f}x naive, {engine / raw:.2f}x raw"
    )


# -- 2. rate accuracy -------------------------------------------------------------------------


def bench_rate(url: str, tmp: pathlib.Path) -> None:
    print("rate accuracy (achieved = sends after the first / time from first to last send):")
    for rate, count in ((80.0, 800), (1000.0, 10000)):
        reset(url)
        times: list[float] = []
        _, report = engine_run(url, numbers(count), rate, tmp, times)
        achieved = (len(times) - 1) / (times[-1] - times[0])
        print(
            f"  configured {rate:6.0f} msg/s, {count} SMS: achieved {achieved:8.2f} msg/s "
            f"({100 * (achieved - rate) / rate:+.2f} %), 429 answers: {report.rate_limited}"
        )
    for rate, count in ((80.0, 800), (1000.0, 10000)):
        achieved = pacer_alone(rate, count)
        print(
            f"  configured {rate:6.0f} msg/s, pacer + engine alone (20 ms fake service): "
            f"achieved {achieved:8.2f} msg/s ({100 * (achieved - rate) / rate:+.2f} %)"
        )


def pacer_alone(rate: float, count: int) -> float:
    """The engine and pacer with a send that only waits 20 ms (a service's latency, no CPU)."""
    from airflow_provider_messaging.core.engine import PreparedSend, SendEngine, SendResult
    from airflow_provider_messaging.core.rows import Row, iter_rows

    times: list[float] = []

    class WaitingSender:
        recipient_interval = 0.0

        async def send(self, item: PreparedSend[None]) -> SendResult:
            times.append(time.perf_counter())
            await asyncio.sleep(0.02)
            return SendResult("id", item.recipient)

    def prepare(row: Row) -> PreparedSend[None]:
        return PreparedSend(row.number, str(row.values["to"]), {}, None)

    engine: SendEngine[None] = SendEngine(
        prepare=prepare, sender=WaitingSender(), rate=rate, concurrency=64, progress_interval=3600
    )
    asyncio.run(engine.run(iter_rows(numbers(count))))
    return (len(times) - 1) / (times[-1] - times[0])


# -- 3. memory --------------------------------------------------------------------------------

MEMORY_PROBE = """
import json, resource, sys
sys.path[:0] = [{repo!r}, {repo!r} + "/benchmarks"]
from benchmarks.broadcast import csv_engine_run
csv_engine_run({url!r}, {warmup!r}, {store!r} + ".warmup")  # imports, pools, schema: paid once
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = csv_engine_run({url!r}, {csv!r}, {store!r})
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("RESULT", json.dumps({{"before_kib": before, "after_kib": after, "accepted": report.accepted,
                            "elapsed": report.elapsed}}))
"""


def csv_engine_run(url: str, csv_path: str, store_path: str) -> Any:
    """The SignalWire broadcast operator's path for a CSV, without an Airflow task around it."""
    from airflow_provider_messaging.operators.broadcast import SignalWireBroadcastOperator

    class TaskInstance:
        dag_id, task_id, run_id, map_index, try_number = "bench", "broadcast", "run", -1, 1

        def xcom_push(self, key: str, value: Any) -> None:
            self.report = value

    os.environ["AIRFLOW_CONN_SIGNALWIRE_DEFAULT"] = json.dumps(
        {"conn_type": "signalwire", "host": "sandbox", "login": PROJECT, "password": TOKEN,
         "extra": {"base_url": url, "from_number": SENDER}}
    )  # fmt: skip
    os.environ["AIRFLOW__MESSAGING__STORE_URL"] = f"sqlite:///{store_path}"
    ti = TaskInstance()
    operator = SignalWireBroadcastOperator(
        task_id="broadcast", csv_path=csv_path, body="Hi {name}", pacing=False, concurrency=CONCURRENCY,
        progress_interval=3600,
    )  # fmt: skip
    started = time.perf_counter()
    ids = operator.execute({"ti": ti})  # type: ignore[arg-type]

    class Report:
        accepted = len(ids)
        elapsed = time.perf_counter() - started

    return Report()


def write_csv(path: pathlib.Path, count: int) -> None:
    with path.open("w") as f:
        f.write("to,name\n")
        for i, number in enumerate(numbers(count)):
            f.write(f"{number},user{i}\n")


def bench_memory(url: str, tmp: pathlib.Path) -> None:
    count = 100_000
    csv_path = tmp / "100k.csv"
    write_csv(csv_path, count)
    warmup = tmp / "1k.csv"
    write_csv(warmup, 1000)
    reset(url)
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE.format(repo=str(REPO), url=url, csv=str(csv_path),
                                                   warmup=str(warmup), store=str(tmp / "memory-ledger.db"))],
        capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        print("memory: the probe failed\n", out.stdout[-2000:], out.stderr[-2000:])
        return
    r = json.loads(line[len("RESULT ") :])
    print(
        f"100,000 recipients from CSV ({csv_path.stat().st_size / 1e6:.1f} MB) through the operator: "
        f"{r['accepted']} accepted in {r['elapsed']:.0f} s; peak RSS {r['before_kib'] / 1024:.0f} MiB after a "
        f"1,000-row warm-up -> {r['after_kib'] / 1024:.0f} MiB (growth {(r['after_kib'] - r['before_kib']) / 1024:.0f} "
        "MiB, which includes the 100,000 message ids the task returns)"
    )


# -- 4. chaos ---------------------------------------------------------------------------------


def bench_chaos(url: str, tmp: pathlib.Path) -> None:
    count = 20_000
    chaos = {"error_rate": 0.05, "error_status": 503, "rate_limit_rate": 0.03, "retry_after": 0.05,
             "stall_rate": 0.01, "stall_seconds": 3.0, "seed": 11}  # fmt: skip
    reset(url, **chaos)
    env = {
        **os.environ,
        "AIRFLOW_CONN_SIGNALWIRE_DEFAULT": json.dumps(
            {"conn_type": "signalwire", "host": "sandbox", "login": PROJECT, "password": TOKEN,
             "extra": {"base_url": url, "from_number": SENDER}}),
        "AIRFLOW__MESSAGING__STORE_URL": f"sqlite:///{tmp / 'chaos-ledger.db'}",
    }  # fmt: skip
    csv_path_text = str(tmp / "chaos.csv")
    with open(csv_path_text, "w") as f:
        f.write("to,name,code\n")
        for i, number in enumerate(numbers(count)):
            f.write(f"{number},user{i},{i}\n")
    cmd = [sys.executable, "-m", "tests.integration.broadcast_task"]
    killed_at = []
    for try_number, kill_after in ((1, count // 3), (2, 2 * count // 3)):
        proc = subprocess.Popen(
            [*cmd, str(try_number), csv_path_text, "none", "1.0"], cwd=REPO, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while proc.poll() is None and accepted_count(url) < kill_after:
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at.append(accepted_count(url))
    started = time.perf_counter()
    final = subprocess.run(
        [*cmd, "3", csv_path_text, "none", "1.0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    report = json.loads(final.stdout.split("REPORT ", 1)[1]) if "REPORT " in final.stdout else None
    time.sleep(chaos["stall_seconds"])  # stalled answers finish on the sandbox side
    counts = collections.Counter(accepted_numbers(url))
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    if report is None:
        print("chaos: the final try printed no report\n", final.stderr[-3000:])
        return
    accounted = sum(report[k] for k in ("accepted", "already_sent", "invalid", "failed", "unknown"))
    print(
        f"chaos, {count} SMS, 5 % 503, 3 % 429 (Retry-After 0.05 s), 1 % stalled answers (client timeout 1 s),"
    )
    print(f"  task SIGKILLed at {killed_at[0]} and {killed_at[1]} accepted messages, third try exit {final.returncode} "
          f"after {elapsed:.0f} s:")  # fmt: skip
    print(
        f"  messages at the sandbox: {sum(counts.values())} to {len(counts)} recipients; duplicates: {duplicates}"
    )
    print(f"  final report: {report['accepted']} accepted, {report['already_sent']} already sent, "
          f"{report['unknown']} outcome unknown (not resent), {report['failed']} failed, "
          f"{report['invalid']} invalid; rows not accounted for: {report['rows'] - accounted}")  # fmt: skip


BENCHES = {"throughput": bench_throughput, "rate": bench_rate, "memory": bench_memory, "chaos": bench_chaos}


def main(names: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as tmp, sandbox_process() as url:
        for name in names or list(BENCHES):
            BENCHES[name](url, pathlib.Path(tmp))
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
