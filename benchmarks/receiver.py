"""The webhook receiver under a WhatsApp number's full status load, on SQLite and on PostgreSQL.

A number sending 1,000 messages a second causes about 3,000 status webhooks a second (sent,
delivered, read). This starts the standalone receiver (``airflow-messaging webhooks``) in a process
of its own, with the connection in an ``AIRFLOW_CONN_*`` variable as a deployment would have it, and
replays pre-signed WhatsApp status POSTs at it on loopback: one event per POST (as Meta sends
them), at a fixed rate (open loop: a request is sent at its moment whether or not earlier ones have
been answered, and its latency counts from that moment, so a slow receiver cannot hide its queue).
Statuses of one message arrive out of order (shuffled within 100 ms windows), 10 % of messages fail
(some after a ``delivered`` from another device, which must win), and 1 % of POSTs are delivered
twice.

Then it checks the store: every event stored once (none missing, none twice), and every message's
final state what the rank rule says. Figures: requests and events per second, latency p50/p99/max,
answered, stored once, final states correct, and the receiver's CPU.

With ``--target api-server`` the receiver is the one ``airflow api-server`` mounts at
``/messaging`` (a fresh SQLite metadata database; the store as ``[messaging] store_url``), behind
Airflow's own middleware; it runs at ``--api-server-rate``.

Usage: ``python benchmarks/receiver.py [--rate 3000] [--seconds 60] [--store sqlite,postgresql]
[--connections 128] [--receiver-args="--workers 2"] [--target standalone,api-server]
[--api-server-rate 800]`` (the defaults shown; ``--receiver-args`` go to ``airflow-messaging
webhooks`` or to ``airflow api-server``).
PostgreSQL is ``MESSAGING_BENCH_POSTGRES_URL`` (default the local test database); it is skipped,
saying why, when it does not answer. Bounded: the load lasts ``--seconds``, answers are awaited at
most 60 s more, and every request has a 30 s timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import pathlib
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from _shared import free_port, postgres_schema  # benchmarks/ is the script's folder

APP_SECRET = "bench-app-secret"
CONN_ID = "wa_bench"
RANK = {"sent": 1, "failed": 2, "delivered": 3, "read": 4}


# -- the load: pre-signed POSTs ------------------------------------------------------------------


def status_body(wamid: str, status: str, ts: int, recipient: str, error: bool) -> bytes:
    """A status webhook in the shape Meta sends in 2026 (contacts beside statuses)."""
    item: dict[str, object] = {
        "id": wamid, "status": status, "timestamp": str(ts), "recipient_id": recipient,
        "recipient_user_id": "US.1349120865530274" + recipient[-6:],
        "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"},
    }  # fmt: skip
    if status == "sent":
        item["conversation"] = {"id": "c0ffee" + wamid[-12:], "origin": {"type": "utility"}}
    if error:
        item["errors"] = [{"code": 131026, "title": "Message undeliverable", "message": "Message undeliverable",
                           "error_data": {"details": "Message Undeliverable."}}]  # fmt: skip
    body = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": "106500000000001"},
            "contacts": [{"profile": {"name": "Bench"}, "wa_id": recipient}],
            "statuses": [item]}}]}]}  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass
class Load:
    requests: list[bytes]
    expected_final: dict[str, str]
    expected_events: set[tuple[str, str]]


def build_load(rate: float, seconds: float, port: int, prefix: str = "", seed: int = 7) -> Load:
    rng = random.Random(seed)
    total = int(rate * seconds)
    posts: list[tuple[float, bytes]] = []
    head = (
        f"POST {prefix}/whatsapp/{CONN_ID} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        "User-Agent: facebookexternalua\r\n"
    )
    i = 0
    while len(posts) < total:
        wamid = f"wamid.HBgLMTU1NTAwMDEyMzQVAgARGBI{uuid.UUID(int=rng.getrandbits(128)).hex.upper()}"
        recipient = f"1555{i % 10_000_000:07d}"
        roll = rng.random()
        if roll < 0.05:
            statuses = ["sent", "failed"]
        elif roll < 0.10:
            statuses = ["sent", "delivered", "failed"]  # another device failed: delivered wins
        else:
            statuses = ["sent", "delivered", "read"]
        base = 1_754_000_000 + i
        when = len(posts) / rate
        for k, status in enumerate(statuses):
            posts.append(
                (
                    when + rng.uniform(0, 0.1),
                    status_body(wamid, status, base + k, recipient, status == "failed"),
                )
            )
        i += 1
    posts = posts[:total]
    posts.sort(key=lambda p: p[0])  # out of order within 100 ms windows
    bodies = [body for _, body in posts]
    for j in rng.sample(range(len(bodies)), len(bodies) // 100):  # 1 % delivered twice
        bodies.insert(min(len(bodies), j + rng.randrange(1, 500)), bodies[j])
    bodies = bodies[:total]
    requests = []
    for body in bodies:
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
        requests.append(
            f"{head}X-Hub-Signature-256: {signature}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        )
    # what the requests that are sent carry: the last messages may have been cut by the total
    sent_events: set[tuple[str, str]] = set()
    for body in set(bodies):
        item = json.loads(body)["entry"][0]["changes"][0]["value"]["statuses"][0]
        sent_events.add((item["id"], item["status"]))
    finals: dict[str, str] = {}
    for wamid, status in sent_events:
        if wamid not in finals or RANK[status] > RANK[finals[wamid]]:
            finals[wamid] = status
    return Load(requests, finals, sent_events)


# -- the load generator: raw HTTP/1.1 keep-alive connections, open loop ---------------------------


@dataclass
class Results:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    new_events: int = 0
    unsent: int = 0
    started: float = 0.0
    last_sent: float = 0.0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def run_load(port: int, requests: list[bytes], rate: float, connections: int) -> Results:
    results = Results()
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5
    results.started = time.time() + 0.5

    hard_stop = start + len(requests) / rate + 60  # the load's length, and at most 60 s more

    async def connection(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(k, len(requests), connections):
            if loop.time() > hard_stop:  # the receiver fell too far behind: stop, count the rest unsent
                results.unsent += len(range(i, len(requests), connections))
                break
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                writer.write(requests[i])
                status, body = await asyncio.wait_for(_read_response(reader), 30)
            except Exception as exc:
                name = type(exc).__name__
                results.errors[name] = results.errors.get(name, 0) + 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            results.latencies.append(loop.time() - due)
            results.statuses[status] = results.statuses.get(status, 0) + 1
            if status == 200:
                results.new_events += json.loads(body).get("statuses", 0)
        results.last_sent = time.time()
        writer.close()

    await asyncio.gather(*(connection(k) for k in range(connections)))
    return results


# -- one run against one store -------------------------------------------------------------------


@contextlib.contextmanager
def fresh_store(kind: str) -> Iterator[tuple[str | None, str]]:
    """A store URL with nothing in it, or None and the reason there is none."""
    if kind == "sqlite":
        yield f"sqlite:///{tempfile.mkdtemp(prefix='receiver-bench-')}/store.db", ""
        return
    with postgres_schema("receiver_bench") as found:
        yield found


def start_receiver(
    target: str, store_url: str, port: int, workdir: str, extra_args: list[str]
) -> subprocess.Popen[bytes]:
    """The standalone receiver (``airflow-messaging webhooks``), or ``airflow api-server`` with the
    receiver mounted at ``/messaging`` (on a fresh SQLite metadata database; the store is
    ``store_url``, as ``[messaging] store_url``)."""
    env = dict(os.environ, AIRFLOW_HOME=workdir, AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__MESSAGING__STORE_URL=store_url)  # fmt: skip
    env[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps({
        "conn_type": "whatsapp", "login": "106500000000001", "password": "bench-token",
        "extra": {"app_secret": APP_SECRET}})  # fmt: skip
    log = open(os.path.join(workdir, "receiver.log"), "wb")  # noqa: SIM115 (kept open for the child)
    if target == "api-server":
        airflow = str(pathlib.Path(sys.executable).parent / "airflow")
        subprocess.run([airflow, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT, check=True,
                       timeout=300)  # fmt: skip
        command = [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), *extra_args]
        ready = f"http://127.0.0.1:{port}/api/v2/version"
    else:
        command = [sys.executable, *os.environ.get("MESSAGING_BENCH_PYTHON_ARGS", "").split(), "-m",
                   "airflow_provider_messaging.cli", "webhooks", "--port", str(port), "--store-url", store_url,
                   *extra_args]  # fmt: skip
        ready = f"http://127.0.0.1:{port}/health"
    # a session of its own: the api-server's workers are stopped with it
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(ready, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
        if proc.poll() is not None:
            break
    stop(proc)
    raise RuntimeError(f"the receiver did not start; see {workdir}/receiver.log")


def stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def _cpu(process: object) -> float:
    try:
        times = process.cpu_times()  # type: ignore[attr-defined]
    except Exception:  # a worker that has ended
        return 0.0
    return float(times.user + times.system)


def warm_up(port: int, prefix: str) -> None:
    """One signed POST answered before the clock starts: the connection is looked up (Airflow's
    modules imported) on the first request, as a running receiver has long done."""
    import httpx

    body = status_body("wamid.warm-up", "sent", 1, "15550000000", False)
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = httpx.post(f"http://127.0.0.1:{port}{prefix}/whatsapp/{CONN_ID}", content=body, timeout=120,
                        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"})  # fmt: skip
    answer.raise_for_status()


def check_store(store_url: str, load: Load) -> tuple[int, int, int, int]:
    """(events stored, of them expected and once, messages, with the right final state)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT message_id, raw_status FROM messaging_status_events")).all()
        states = dict(conn.execute(text("SELECT message_id, state FROM messaging_message_status")).all())
    engine.dispose()
    stored = [(m, s) for m, s in rows if m != "wamid.warm-up"]
    once = len(set(stored) & load.expected_events) if len(set(stored)) == len(stored) else 0
    correct = sum(1 for m, final in load.expected_final.items() if states.get(m) == final)
    return len(stored), once, len(load.expected_final), correct


def run(
    target: str, kind: str, store_url: str | None, reason: str, rate: float, seconds: float, connections: int,
    extra_args: list[str],
) -> bool:  # fmt: skip
    import psutil

    where = {"api-server": "inside airflow api-server", "standalone": "standalone receiver"}[target]
    label = f"{where}, {dict(sqlite='SQLite', postgresql='PostgreSQL')[kind]}"
    prefix = "/messaging" if target == "api-server" else ""
    if store_url is None:
        print(f"{label}: skipped: {reason}")
        return True
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="receiver-bench-home-")
    load = build_load(rate, seconds, port, prefix)
    proc = start_receiver(target, store_url, port, workdir, extra_args)
    try:
        warm_up(port, prefix)
        server = psutil.Process(proc.pid)
        processes = [server, *server.children(recursive=True)]  # uvicorn's workers
        cpu_before = sum(_cpu(p) for p in processes)
        load_before = os.getloadavg()[0]
        own_cpu = time.process_time()
        wall = time.monotonic()
        try:
            import uvloop

            results = uvloop.run(run_load(port, load.requests, rate, connections))
        except ImportError:
            results = asyncio.run(run_load(port, load.requests, rate, connections))
        wall = time.monotonic() - wall
        cpu_after = sum(_cpu(p) for p in processes)
        load_after = os.getloadavg()[0]
        own_cpu = (time.process_time() - own_cpu) / wall
    finally:
        stop(proc)
    cpu = (cpu_after - cpu_before) / wall
    sent = len(load.requests)
    answered = sum(results.statuses.values())
    lat = sorted(results.latencies) or [float("nan")]
    p50, p99 = statistics.median(lat), lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    stored, once, messages, correct = check_store(store_url, load)
    ok = (
        answered == sent and results.statuses.get(200, 0) == sent and once == len(load.expected_events)
        and stored == len(load.expected_events) and correct == messages and p99 < 1.0
    )  # fmt: skip
    duration = results.last_sent - results.started
    print(
        f"{label}: {sent} signed status POSTs (1 event each, {len(load.expected_events)} distinct) over "
        f"{duration:.1f} s at {rate:.0f}/s offered, {connections} connections"
        f"{', ' + ' '.join(extra_args) if extra_args else ''}\n"
        f"  answered {answered}/{sent} ({', '.join(f'{k}: {v}' for k, v in sorted(results.statuses.items()))}"
        f"{', errors: ' + str(results.errors) if results.errors else ''}"
        f"{f', not sent (the receiver fell over 60 s behind): {results.unsent}' if results.unsent else ''}); "
        f"{answered / duration:.0f} req/s, {answered / duration:.0f} events/s\n"
        f"  latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms\n"
        f"  stored once: {once}/{len(load.expected_events)} events ({stored} rows); "
        f"final states correct: {correct}/{messages} ({100 * correct / max(messages, 1):.1f} %)\n"
        f"  receiver CPU: {cpu * 100:.0f} % of one core, load generator {own_cpu * 100:.0f} %; machine load "
        f"average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores  -> {'PASS' if ok else 'FAIL'} "
        f"(goal: every request answered 200, every event stored once, every state right, p99 < 1 s)",
        flush=True,
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=3000.0, help="POSTs per second (one event each)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=128)
    parser.add_argument("--store", default="sqlite,postgresql")
    parser.add_argument("--target", default="standalone,api-server", help="standalone, api-server or both")
    parser.add_argument(
        "--api-server-rate", type=float, default=800.0,
        help="POSTs per second for the api-server target (default 800: about what it holds on 2 cores)",
    )  # fmt: skip
    parser.add_argument(
        "--receiver-args",
        default="--workers 2",
        help="arguments for airflow-messaging webhooks or airflow api-server (default: --workers 2)",
    )
    args = parser.parse_args()
    ok = True
    for target in args.target.split(","):
        for kind in args.store.split(","):
            rate = args.api_server_rate if target.strip() == "api-server" else args.rate
            with fresh_store(kind.strip()) as (store_url, reason):
                ok &= run(target.strip(), kind.strip(), store_url, reason, rate, args.seconds, args.connections,
                          args.receiver_args.split())  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
