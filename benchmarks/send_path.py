"""What one message costs the client: the WhatsApp template broadcast against a server that keeps up.

The server is nginx answering WhatsApp-shaped JSON (``benchmarks/nginx/whatsapp-stub.conf``; Debian:
``apt-get install nginx-light``), started on a free loopback port with a temporary prefix, so the
server costs almost nothing and the client pays for its own CPU only. Without nginx the sandbox
stands in (in its own process; it is much slower, so the rates are then the sandbox's).

All figures come from one run, side by side, so the noise of a shared machine cancels in the ratios:

- ``WhatsAppTemplateBroadcastOperator.execute`` as a task runs it (send ledger on SQLite, the
  template checked before the first send, every row checked against it): pacing off, then paced at
  500 and 1,000 msg/s (achieved rate from the first request to the last, deviation, CPU cores);
- a pywa-style sequential loop: one ``httpx.Client`` posting the same JSON, one message at a time;
- bare ``httpx.AsyncClient``: one pool of 64 connections, 64 sends in flight.

Client CPU is the process's CPU time (user + system, all threads) over the messages sent.

Usage: ``python benchmarks/send_path.py [--count N] [--baseline-count N] [--soak] [--sandbox]``;
``--soak`` adds a 60-second run at 1,000 msg/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

HERE = pathlib.Path(__file__).resolve().parent
BIN = pathlib.Path(sys.executable).parent
TOKEN = "sandbox-whatsapp-token"  # the sandbox's default; nginx takes any
PHONE_NUMBER_ID, WABA_ID, VERSION = "106500000000001", "200000000000001", "v25.0"
TEMPLATE = "weekly_report"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/{VERSION}/{PHONE_NUMBER_ID}", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"no server answered at {url} within {timeout:.0f} s")


@contextmanager
def nginx_stub() -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as prefix:
        conf = pathlib.Path(prefix) / "nginx.conf"
        conf.write_text((HERE / "nginx" / "whatsapp-stub.conf").read_text().replace("@PORT@", str(port)))
        pid_file = pathlib.Path(prefix) / "nginx.pid"
        subprocess.run(
            ["nginx", "-p", prefix, "-c", str(conf), "-g", f"pid {pid_file};"], check=True, timeout=30
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(url)
            yield url
        finally:
            if pid_file.exists():
                os.kill(int(pid_file.read_text().strip()), signal.SIGQUIT)
                for _ in range(100):
                    if not pid_file.exists():
                        break
                    time.sleep(0.05)


@contextmanager
def sandbox() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "messaging-sandbox"), "--port", str(port), "--sent-delay", "3600", "--delivered-delay", "3600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def recipients(count: int, offset: int = 0) -> list[str]:
    return [f"+1212{2_000_000 + offset + n:07d}" for n in range(count)]  # valid New York numbers


def payload(to: str) -> dict[str, Any]:
    """The JSON the provider sends for one row, as pywa would build it."""
    return {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "template",
        "template": {"name": TEMPLATE, "language": {"code": "en_US"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "week 47"}]}
        ]},
    }  # fmt: skip


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Figures:
    messages: int
    wall: float
    cpu: float
    rate: float | None = None  # configured
    achieved: float | None = None  # requests after the first / time from the first to the last

    @property
    def per_second(self) -> float:
        return self.messages / self.wall

    @property
    def cpu_ms(self) -> float:
        return 1000 * self.cpu / self.messages

    @property
    def cores(self) -> float:
        return self.cpu / self.wall


def measured(run: Callable[[], int]) -> Figures:
    c0, t0 = cpu(), time.perf_counter()
    messages = run()
    return Figures(messages, time.perf_counter() - t0, cpu() - c0)


# -- baselines --------------------------------------------------------------------------------


def pywa_style_loop(url: str, to: list[str]) -> int:
    """What pywa's ``send_template`` does in a loop: one blocking httpx client, one request at a time."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    with httpx.Client(base_url=f"{url}/{VERSION}", headers=headers) as client:
        for number in to:
            response = client.post(f"/{PHONE_NUMBER_ID}/messages", json=payload(number))
            response.raise_for_status()
            response.json()["messages"][0]["id"]
    return len(to)


async def bare_httpx(url: str, to: list[str], pool: int = 64) -> int:
    """Bare POSTs from ``pool`` tasks over one ``httpx.AsyncClient`` of ``pool`` connections."""
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    pending = iter(to)
    async with httpx.AsyncClient(
        base_url=f"{url}/{VERSION}", headers={"Authorization": f"Bearer {TOKEN}"}, limits=limits
    ) as client:

        async def worker() -> None:
            for number in pending:
                response = await client.post(f"/{PHONE_NUMBER_ID}/messages", json=payload(number))
                response.raise_for_status()
                response.json()

        await asyncio.gather(*(worker() for _ in range(pool)))
    return len(to)


# -- the provider -------------------------------------------------------------------------------


class TaskInstance:
    dag_id, task_id, map_index, try_number = "bench", "broadcast", -1, 1

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def use_connection(url: str, store: pathlib.Path) -> None:
    os.environ["AIRFLOW_CONN_WHATSAPP_DEFAULT"] = json.dumps(
        {"conn_type": "whatsapp", "password": TOKEN, "extra": {
            "phone_number_id": PHONE_NUMBER_ID, "waba_id": WABA_ID, "api_version": VERSION, "base_url": url}}
    )  # fmt: skip
    os.environ["AIRFLOW__MESSAGING__STORE_URL"] = f"sqlite:///{store}"


def provider(to: list[str], rate: float | None, run_id: str) -> tuple[int, dict[str, Any]]:
    from airflow_provider_messaging.operators.broadcast import WhatsAppTemplateBroadcastOperator

    rows = [{"to": number, "name": "Ann", "week": "week 47"} for number in to]
    ti = TaskInstance(run_id)
    operator = WhatsAppTemplateBroadcastOperator(
        task_id="broadcast", recipients=rows, template_name=TEMPLATE, language="en_US",
        parameter_columns=["name", "week"], rate=rate, pacing=rate is not None, progress_interval=3600,
    )  # fmt: skip
    ids = operator.execute({"ti": ti})  # type: ignore[arg-type]
    report = ti.xcom["report"]
    if len(ids) != len(to):
        raise RuntimeError(f"{len(ids)} of {len(to)} accepted: {str(report)[:2000]}")
    return len(ids), report


@contextmanager
def request_times() -> Iterator[list[float]]:
    """When each request of the async sessions went out (first and last are kept; cheap)."""
    from airflow_provider_messaging.core.aiohttp_io import AiohttpIO

    times: list[float] = []
    original = AiohttpIO.request

    async def timed(self: AiohttpIO, call: Any) -> Any:
        now = time.perf_counter()
        if times:
            times[1:] = [now]
        else:
            times.append(now)
        return await original(self, call)

    AiohttpIO.request = timed  # type: ignore[method-assign]
    try:
        yield times
    finally:
        AiohttpIO.request = original  # type: ignore[method-assign]


def provider_run(to: list[str], rate: float | None, run_id: str) -> Figures:
    """``achieved``: requests after the first over the time from the first request to the last."""
    with request_times() as times:
        figures = measured(lambda: provider(to, rate, run_id)[0])
    figures.rate = rate
    figures.achieved = (figures.messages - 1) / (times[-1] - times[0])
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # more than 10,000: the pacer's memory of recipients (WhatsApp's 6 s pair spacing) is pruned
    # past that size, and a list longer than it once cost twice as much per message
    parser.add_argument("--count", type=int, default=30_000, help="messages in the operator's unpaced run")
    parser.add_argument("--baseline-count", type=int, default=5_000, help="messages per baseline run")
    parser.add_argument("--soak", action="store_true", help="add 60 s at 1,000 msg/s")
    parser.add_argument("--sandbox", action="store_true", help="use the sandbox even when nginx is installed")
    args = parser.parse_args(argv)
    use_nginx = shutil.which("nginx") is not None and not args.sandbox
    count = args.count if use_nginx else min(args.count, 2000)
    server = nginx_stub if use_nginx else sandbox
    with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp, server() as url:
        use_connection(url, pathlib.Path(tmp) / "ledger.db")
        provider(recipients(200, 7_800_000), None, "warm-up")  # imports, schema, first pools
        baseline = args.baseline_count if use_nginx else min(args.baseline_count, 1000)
        loop = measured(lambda: pywa_style_loop(url, recipients(baseline)))
        bare = measured(lambda: asyncio.run(bare_httpx(url, recipients(baseline))))
        unpaced = provider_run(recipients(count), None, "unpaced")
        paced = [
            provider_run(recipients(int(rate * seconds), 1_000_000 * n), rate, f"paced-{rate:g}")
            for n, (rate, seconds) in enumerate(((500.0, 10), (1000.0, 10)), start=1)
        ]
        if args.soak:
            paced.append(provider_run(recipients(60_000, 3_000_000), 1000.0, "soak"))
    where = (
        "nginx stub (benchmarks/nginx)" if use_nginx else "the sandbox (nginx is not installed, or --sandbox)"
    )
    print(f"WhatsApp template sends against {where}, one process, client CPU = process CPU time:")
    print(f"  {'client':<58} {'msg/s':>8} {'CPU ms/msg':>11} {'cores':>6}")

    def line(name: str, f: Figures, extra: str = "") -> None:
        print(f"  {name:<58} {f.per_second:8.0f} {f.cpu_ms:11.3f} {f.cores:6.2f}{extra}")

    line(f"operator execute, pacing off ({unpaced.messages} msgs)", unpaced,
         f"   = {unpaced.per_second / loop.per_second:.2f}x the pywa-style loop's msg/s, "
         f"{unpaced.cpu_ms / loop.cpu_ms:.2f}x its CPU per message")  # fmt: skip
    for f in paced:
        assert f.rate is not None and f.achieved is not None
        deviation = 100 * (f.achieved - f.rate) / f.rate
        line(f"operator execute, rate={f.rate:g} ({f.messages} msgs, {f.messages / f.rate:.0f} s)", f,
             f"   achieved {f.achieved:.1f} msg/s ({deviation:+.2f} %)")  # fmt: skip
    line(f"pywa-style sequential httpx.Client loop ({loop.messages} msgs)", loop)
    line(f"bare httpx.AsyncClient, one pool of 64 ({bare.messages} msgs)", bare)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
