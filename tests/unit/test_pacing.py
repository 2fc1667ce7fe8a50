"""The pacer hands out evenly spaced slots, spaces sends to one user and backs off when told to."""

from __future__ import annotations

import itertools

import pytest

from airflow_provider_messaging.core.pacing import Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_slots_are_one_interval_apart_and_never_bunch_up():
    clock = Clock()
    pacer = Pacer(80, clock=clock)
    delays = [pacer.reserve() for _ in range(160)]
    assert delays[0] == 0
    assert delays[-1] == pytest.approx(159 / 80)  # 160 sends take two seconds, not one burst
    assert all(b - a == pytest.approx(1 / 80) for a, b in itertools.pairwise(delays))


def test_an_idle_pacer_does_not_save_up_slots_for_a_burst():
    clock = Clock()
    pacer = Pacer(10, clock=clock)
    pacer.reserve()
    clock.now += 60
    assert [round(pacer.reserve(), 3) for _ in range(3)] == [0, 0.1, 0.2]


def test_retry_after_pauses_every_sender_and_halves_the_rate_then_recovers():
    clock = Clock()
    pacer = Pacer(100, clock=clock, recovery_after=5)
    assert pacer.slow_down(2.5) == 2.5
    assert pacer.reserve() == pytest.approx(2.5)
    assert pacer.current_rate == 50
    clock.now += 2.5 + 5
    pacer.reserve()
    assert pacer.current_rate == pytest.approx(62.5)
    for _ in range(10):
        clock.now += 5
        pacer.reserve()
    assert pacer.current_rate == 100


def test_without_retry_after_the_pause_is_one_second():
    pacer = Pacer(None, clock=Clock())
    assert pacer.slow_down(None) == 1.0
    assert pacer.reserve() == pytest.approx(1.0)


def test_one_user_gets_at_most_one_message_per_interval():
    clock = Clock()
    pacer = Pacer(1000, recipient_interval=6.0, clock=clock)
    first = pacer.reserve("+15550002001")
    other = pacer.reserve("+15550002002")
    again = pacer.reserve("+15550002001")
    assert first == 0 and other == pytest.approx(0.001)
    assert again == pytest.approx(6.0)


@pytest.mark.parametrize("rate", [0, -1, 1000.5])
def test_rates_outside_what_services_allow_are_refused(rate):
    with pytest.raises(ValueError, match="rate must be between 0 and 1000"):
        Pacer(rate)


class Slots:
    """A stand-in for the store's shared budget: slots now, and what the pacer told it."""

    def __init__(self, pause_from_others: float = 0.0) -> None:
        self.rates: list[float] = []
        self.limits: list[float] = []
        self.pause_from_others = pause_from_others

    async def slot(self, rate: float) -> tuple[float, float]:
        import time

        self.rates.append(rate)
        pause, self.pause_from_others = self.pause_from_others, 0.0
        return time.monotonic(), pause

    def limited(self, pause: float) -> None:
        self.limits.append(pause)


async def test_a_shared_budget_gives_the_slots_and_hears_of_rate_limits():
    slots = Slots()
    pacer = Pacer(200, shared=slots)
    assert [pacer.reserve() for _ in range(3)] == [0, 0, 0]  # the rate is the budget's to keep
    await pacer.wait()
    assert slots.rates == [200]
    pacer.slow_down(0.0)
    assert slots.limits == [0.0]  # told to the other tasks sending from the number
    await pacer.wait()
    assert slots.rates[-1] == 100  # and this one sends at half the rate


async def test_a_rate_limit_another_task_met_slows_this_one_without_telling_again():
    slots = Slots(pause_from_others=0.001)
    pacer = Pacer(200, shared=slots)
    await pacer.wait()
    assert pacer.current_rate == 100 and slots.limits == []


def test_a_slot_missed_by_a_moment_keeps_the_schedule():
    """A process not scheduled for a few ms sends the missed slot at once; later slots keep their times."""
    clock = Clock()
    pacer = Pacer(100, clock=clock)
    assert [round(pacer.reserve(), 3) for _ in range(3)] == [0, 0.01, 0.02]  # slots at 100.00, .01, .02
    clock.now += 0.045  # the slot at 100.03 is 15 ms late when asked for
    assert round(pacer.reserve(), 3) == 0
    assert round(pacer.reserve(), 3) == 0  # 100.04: 5 ms late as well
    assert round(pacer.reserve(), 3) == 0.005  # 100.05: on schedule


async def test_sends_from_a_shared_budget_wake_together_once_per_tick(monkeypatch):
    """At 1,000 msg/s the budget's slots are 1 ms apart; the sends of one tick wake in one turn of the
    event loop instead of one wake-up per send (the slots keep their spacing)."""
    from airflow_provider_messaging.core import pacing

    clock = Clock()
    woke: list[float] = []

    async def sleep(seconds: float) -> None:
        clock.now += seconds
        woke.append(clock.now)

    class FutureSlots(Slots):
        def __init__(self) -> None:
            super().__init__()
            self.next = clock.now + 0.0005

        async def slot(self, rate: float) -> tuple[float, float]:
            when, self.next = self.next, self.next + 1 / rate
            return when, 0.0

    monkeypatch.setattr(pacing.time, "monotonic", clock)
    monkeypatch.setattr(pacing.asyncio, "sleep", sleep)
    pacer = Pacer(1000, shared=FutureSlots(), clock=clock)
    for _ in range(60):  # 60 ms of slots
        clock.now = 100.0  # every send asks at once, as a worker pool does
        await pacer.wait()
    assert len(set(woke)) == 3  # three ticks of 20 ms, not sixty wake-ups
    assert all(round(t / pacing.TICK, 6).is_integer() for t in woke)


def test_a_fast_list_longer_than_the_recipient_memory_does_not_rebuild_it_on_every_send(monkeypatch):
    """Unpaced, 30,000 recipients inside one 6 s interval: the passed ones are looked for when the
    memory has doubled, not on each of the 20,000 sends past 10,000 (each such pass walks it all)."""
    clock = Clock()
    pacer = Pacer(None, recipient_interval=6.0, clock=clock)
    passes = []
    forget = pacer._forget_passed
    monkeypatch.setattr(pacer, "_forget_passed", lambda now: (passes.append(now), forget(now)))
    for n in range(30_000):
        clock.now += 0.0001  # 3 s in all: nobody's spacing has passed
        assert pacer.reserve(f"+1555{n:07d}") == 0.0
    assert len(passes) <= 2
    assert pacer.reserve("+15550000001") == pytest.approx(3.0, abs=0.01)  # sent 3 s ago: still spaced
    clock.now += 10
    pacer.reserve("+15559999999")
    pacer._forget_passed(clock.now)
    assert len(pacer._last_to) == 1  # once their spacing has passed they are forgotten
