"""One sender's rate shared through the status store by several tasks (shards of a broadcast).

Each "task" here is a thread with its own event loop and its own store connection, as shards on
different workers would be. Tests check which slots were handed out, never how long things took.
"""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest

from airflow_provider_messaging.core.pacing import Pacer
from airflow_provider_messaging.store.rate_budget import SharedRateBudget, rate_budgets
from airflow_provider_messaging.store.store import MessageStore

pytestmark = pytest.mark.integration


def in_threads(task, count):
    """Run ``task`` in ``count`` threads at once (as several tasks on one store), each for at most 60 s."""
    threads = [threading.Thread(target=task) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


def test_reservations_from_several_tasks_never_overlap(store):
    """Slots taken in parallel by four tasks are contiguous: no two tasks get the same time."""
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def task() -> None:
        own = MessageStore(store.url)
        budget = SharedRateBudget(own, "whatsapp", "106500000000001")
        for _ in range(25):
            _, end, _, _, _ = budget.reserve(5, 0.001)
            with lock:
                spans.append((end - 0.005, end))
        own.dispose()

    in_threads(task, 4)
    spans.sort()
    assert len(spans) == 100
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 1e-6, "two reservations overlap"


def test_senders_and_services_have_budgets_of_their_own(store):
    a = SharedRateBudget(store, "whatsapp", "111")
    b = SharedRateBudget(store, "whatsapp", "222")
    c = SharedRateBudget(store, "signalwire", "111")
    ends = [budget.reserve(1000, 0.01)[1] for budget in (a, b, c)]
    # each started from "now": none waited for another's 10 s of slots
    assert max(ends) - min(ends) < 5.0


def test_a_rate_limit_seen_by_one_task_pauses_and_slows_the_others(store):
    first = SharedRateBudget(store, "whatsapp", "106500000000001")
    second = SharedRateBudget(store, "whatsapp", "106500000000001")

    async def run() -> tuple[float, float, float]:
        _, before = await second.slot(1000.0)
        first._record_limit(30.0)  # first was answered 429 with Retry-After: 30
        second._taken = second._count  # its batch is used up: the next slot needs a reservation
        when, pause = await second.slot(1000.0)
        return before, when, pause

    before, when, pause = asyncio.run(run())
    loop_now = asyncio.run(_monotonic())
    assert before == 0.0
    assert pause > 20.0  # told to pause (and so to halve its rate)
    assert when - loop_now > 20.0  # its next slot comes after the pause


async def _monotonic() -> float:
    import time

    return time.monotonic()


def test_own_rate_limit_is_not_news_to_the_task_that_recorded_it(store):
    budget = SharedRateBudget(store, "whatsapp", "106500000000001")

    async def run() -> float:
        await budget.slot(100.0)
        budget._record_limit(1.0)
        budget._taken = budget._count
        _, pause = await budget.slot(100.0)
        return pause

    assert asyncio.run(run()) == 0.0


def test_pacers_sharing_a_budget_take_turns_at_the_configured_rate(store):
    """Two pacers at 200 msg/s on one budget: 200 msg/s together, by their slot times."""
    times: list[float] = []
    lock = threading.Lock()

    def task() -> None:
        own = MessageStore(store.url)
        budget = SharedRateBudget(own, "signalwire", "+15551230001")
        pacer = Pacer(200.0, shared=budget)

        async def run() -> None:
            import time

            for _ in range(60):
                await pacer.wait()
                with lock:
                    times.append(time.monotonic())

        asyncio.run(run())
        budget.close()
        own.dispose()

    in_threads(task, 2)
    assert len(times) == 120
    with store.engine.connect() as conn:
        row = conn.execute(rate_budgets.select()).mappings().one()
    assert row["limits"] == 0 and row["sender"] == "+15551230001"


def test_unused_slots_are_given_back(store):
    budget = SharedRateBudget(store, "whatsapp", "106500000000001")

    async def one() -> None:
        await budget.slot(1000.0)  # reserves a batch of 20, uses one

    asyncio.run(one())
    end = budget._batch_end
    budget.close()
    with store.engine.connect() as conn:
        next_slot = conn.execute(rate_budgets.select()).mappings().one()["next_slot"]
    assert end is not None and next_slot == pytest.approx(end - 19 * 0.001)
