"""What answering human-in-the-loop questions by message costs beside the webhook receiver.

200 questions wait, each asked of its own person; 10,000 ordinary inbound messages are already in
the store. 200 signed taps then land in the store at random moments over 20 s, as the receiver
would write them, while the responder runs as it does beside the receiver (one thread, one look
per second). Airflow's REST API answers in-process at once (httpx's MockTransport), so the figures
are the responder's own: reply stored -> answer PATCHed, and CPU. Then the cost of one look when
nothing arrived, with and without open questions.

    python benchmarks/hitl_replies.py           (SQLite; MESSAGING_BENCH_STORE_URL for PostgreSQL)
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import threading
import time
from typing import Any

import httpx
from sqlalchemy import delete

from airflow_provider_messaging.core.events import InboundMessage
from airflow_provider_messaging.core.hitl import ButtonSigner, Person, Question, TaskRef
from airflow_provider_messaging.hitl.airflow_api import AirflowApi, ApiAccount
from airflow_provider_messaging.hitl.responder import Responder
from airflow_provider_messaging.store.hitl import QuestionStore
from airflow_provider_messaging.store.hitl import questions as questions_table
from airflow_provider_messaging.store.store import MessageStore

QUESTIONS, OTHER_MESSAGES, SPREAD = 200, 10_000, 20.0
SIGNER = ButtonSigner("bench-app-secret")


class InstantAirflow:
    """Every task waits; every answer is taken; when each PATCH came is noted."""

    def __init__(self) -> None:
        self.patched: dict[str, float] = {}  # run id -> when

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(201, json={"access_token": "t"})
        if request.method == "GET":
            return httpx.Response(200, json={"response_received": False, "params": {},
                                             "task_instance": {"state": "awaiting_input", "try_number": 1}})  # fmt: skip
        run_id = request.url.path.split("/dagRuns/")[1].split("/")[0]
        self.patched[run_id] = time.perf_counter()
        return httpx.Response(200, json={})


class Access:
    def __init__(self, airflow: InstantAirflow) -> None:
        client = httpx.Client(base_url="http://airflow", transport=httpx.MockTransport(airflow.handle))
        self._api = AirflowApi(ApiAccount("http://airflow", "messaging", "pw"), client=client)

    def api(self, conn_id: str) -> AirflowApi:
        return self._api

    def signer(self, conn_id: str) -> ButtonSigner:
        return SIGNER

    def send(self, question: Question, to: str, text: str, from_number: str | None) -> None:
        pass  # the thank-you message is the send path's cost, measured elsewhere


def number(i: int) -> str:
    return f"+1555{3000000 + i:07d}"


def inbound(message_id: str, sender: str, kind: str, payload: dict[str, Any] | None = None) -> InboundMessage:
    return InboundMessage("whatsapp", message_id, sender.lstrip("+"), "1065", kind, "x", time.time(),
                          payload=payload or {})  # fmt: skip


def main() -> None:
    url = os.environ.get("MESSAGING_BENCH_STORE_URL") or f"sqlite:///{tempfile.mkdtemp()}/hitl-bench.db"
    store = MessageStore(url)
    questions = QuestionStore(store)
    asked = []
    for i in range(QUESTIONS):
        q = Question(task=TaskRef("deploy", f"run{i}", "approve"), service="whatsapp", conn_id="whatsapp_default",
                     subject=f"Deploy {i}?", options=("Approve", "Reject"), people=(Person(number(i), f"p{i}"),),
                     api_conn_id="airflow_api_default", created_at=time.time() - 60)  # fmt: skip
        questions.save(q)
        asked.append(q)
    for i in range(OTHER_MESSAGES):
        store.record_inbound(inbound(f"other.{i}", f"+1555{4000000 + i:07d}", "text"))

    airflow = InstantAirflow()
    responder = Responder(store, Access(airflow), interval=1.0)
    responder.poll()  # the first look reads back to the oldest question; then it runs as beside the receiver
    thread = threading.Thread(target=responder.run, daemon=True)
    process0, main0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    thread.start()
    stored: dict[str, float] = {}
    moments = sorted(random.uniform(0, SPREAD) for _ in range(QUESTIONS))
    for q, at in zip(asked, moments, strict=True):
        time.sleep(max(0.0, at - (time.perf_counter() - wall0)))
        payload = {"type": "interactive", "interactive": {"type": "button_reply",
                   "button_reply": {"id": SIGNER.button_id(q, 0), "title": "Approve"}}}  # fmt: skip
        store.record_inbound(inbound(f"tap.{q.task.run_id}", q.people[0].address, "interactive", payload))
        stored[q.task.run_id] = time.perf_counter()
    deadline = time.perf_counter() + 30
    while len(airflow.patched) < QUESTIONS and time.perf_counter() < deadline:
        time.sleep(0.1)
    wall = time.perf_counter() - wall0
    cpu = (time.process_time() - process0) - (time.thread_time() - main0)  # the responder's thread
    responder.stop()
    thread.join()
    latencies = sorted(airflow.patched[r] - stored[r] for r in stored if r in airflow.patched)
    print(
        f"store: {store.engine.dialect.name}; {QUESTIONS} questions waiting, {OTHER_MESSAGES} other messages"
    )
    print(f"{len(latencies)} of {QUESTIONS} taps recorded; reply stored -> answer PATCHed: "
          f"p50 {statistics.median(latencies):.2f} s, p95 {latencies[int(len(latencies) * 0.95) - 1]:.2f} s, "
          f"max {latencies[-1]:.2f} s")  # fmt: skip
    print(f"responder CPU over {wall:.0f} s: {100 * cpu / wall:.1f} % of one core")

    def look_ms(repeat: int = 50) -> float:
        start = time.perf_counter()
        for _ in range(repeat):
            responder.poll()
        return (time.perf_counter() - start) * 1000 / repeat

    print(f"one look with nothing new: {look_ms():.2f} ms with {QUESTIONS} questions asked", end="")
    with store.engine.begin() as conn:
        conn.execute(delete(questions_table))
    print(f", {look_ms():.2f} ms with none")
    store.dispose()


if __name__ == "__main__":
    main()
