"""The send engine with a fake service: retries, ledger, Retry-After, stops and the report."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_messaging.core.engine import PreparedSend, SendEngine, SendResult, SendStopped
from airflow_provider_messaging.core.errors import (
    AuthenticationError,
    OutcomeUnknownError,
    RateLimitedError,
    RecipientError,
    ServiceUnavailableError,
    ValidationError,
)
from airflow_provider_messaging.core.phone import normalize_e164
from airflow_provider_messaging.core.retry import RetryPolicy
from airflow_provider_messaging.core.rows import Row, iter_rows
from airflow_provider_messaging.store.ledger import LedgerScope, SendLedger
from airflow_provider_messaging.store.store import MessageStore

NUMBERS = [f"+1555000{n:04d}" for n in range(1, 41)]


class FakeService:
    """A sender that answers per recipient from a script; remembers every request."""

    def __init__(self, script=None, recipient_interval=0.0):
        self.script = dict(script or {})
        self.requests: list[str] = []
        self.recipient_interval = recipient_interval

    async def send(self, item: PreparedSend) -> SendResult:
        self.requests.append(item.recipient)
        answer = self.script.get(item.recipient)
        if isinstance(answer, list):
            answer = answer.pop(0) if answer else None
        if isinstance(answer, Exception):
            raise answer
        return SendResult(f"id-{item.recipient}-{len(self.requests)}", item.recipient, "queued")


def prepare(row: Row) -> PreparedSend:
    to = normalize_e164(row.values.get("to"), f"to (row {row.number})")
    return PreparedSend(row.number, to, {"body": "hi"}, None)


@pytest.fixture
def ledger_store(tmp_path):
    store = MessageStore(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield store
    store.dispose()


@pytest.fixture
def sleeps(monkeypatch):
    """Record the engine's and pacer's sleeps instead of waiting."""
    recorded: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds, *args, **kwargs):
        recorded.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr("airflow_provider_messaging.core.engine.asyncio.sleep", fake_sleep)
    monkeypatch.setattr("airflow_provider_messaging.core.pacing.asyncio.sleep", fake_sleep)
    return recorded


def engine(service, store=None, try_number=1, **kw):
    ledger = None
    if store is not None:
        scope = LedgerScope("signalwire", "d", "t", "r", -1, try_number)
        ledger = SendLedger(store, scope, resend_unknown=kw.pop("resend_unknown", False))
    kw.setdefault("retry_policy", RetryPolicy(max_attempts=3, initial_backoff=0.01))
    return SendEngine(prepare=prepare, sender=service, ledger=ledger, **kw)


def run(eng, rows):
    return asyncio.run(eng.run(iter_rows(rows)))


def test_every_row_is_accounted_for(ledger_store, sleeps):
    service = FakeService({NUMBERS[1]: RecipientError("opted out", code="21610"),
                           NUMBERS[2]: OutcomeUnknownError("no answer")})  # fmt: skip
    report = run(engine(service, ledger_store, concurrency=4), [*NUMBERS[:10], "12", {"x": 1}, 7])
    assert (report.rows, report.accepted, report.failed, report.unknown, report.invalid) == (13, 8, 1, 1, 3)
    assert report.failed_by_code == {"21610": 1}
    assert [r["row"] for r in report.invalid_rows] == [11, 12, 13]
    assert "no country code" in report.invalid_rows[0]["error"]
    assert report.unknown_recipients == [NUMBERS[2]]
    assert len(report.message_ids) == 8


def test_a_retry_after_a_partial_broadcast_sends_only_to_the_rest(ledger_store, sleeps):
    down = ServiceUnavailableError("503")
    first = FakeService({n: [down, down, down] for n in NUMBERS[20:]})  # half never got through
    report1 = run(engine(first, ledger_store, concurrency=8), NUMBERS)
    assert (report1.accepted, report1.retryable_failed) == (20, 20)

    second = FakeService()
    report2 = run(engine(second, ledger_store, try_number=2, concurrency=8), NUMBERS)
    assert sorted(second.requests) == NUMBERS[20:]
    assert (report2.accepted, report2.already_sent, report2.failed) == (20, 20, 0)
    assert set(report2.message_ids) >= set(report1.message_ids)  # ids for the sensor cover everyone


def test_unknown_outcomes_are_not_resent_unless_asked(ledger_store, sleeps):
    first = FakeService({NUMBERS[0]: OutcomeUnknownError("timeout after sending")})
    run(engine(first, ledger_store), NUMBERS[:3])
    second = FakeService()
    report = run(engine(second, ledger_store, try_number=2), NUMBERS[:3])
    assert second.requests == [] and (report.unknown, report.already_sent) == (1, 2)
    third = FakeService()
    report = run(engine(third, ledger_store, try_number=3, resend_unknown=True), NUMBERS[:3])
    assert third.requests == [NUMBERS[0]] and report.accepted == 1


def test_retry_after_pauses_everyone_then_the_same_request_goes_again(sleeps):
    service = FakeService({NUMBERS[0]: [RateLimitedError("429", retry_after=2.5, code="20429")]})
    eng = engine(service, concurrency=1)
    report = run(eng, NUMBERS[:2])
    assert service.requests == [NUMBERS[0], NUMBERS[0], NUMBERS[1]]
    assert report.accepted == 2 and report.rate_limited == 1 and eng.pacer.slow_downs == 1
    # the retry waited for Retry-After (the fixture sees every asyncio.sleep in the process, so look for it)
    assert any(s == pytest.approx(2.5, abs=0.05) for s in sleeps)


def test_rate_limits_that_never_end_leave_a_retryable_failure(sleeps):
    service = FakeService({NUMBERS[0]: RateLimitedError("429", retry_after=0.1, code="20429")})
    report = run(engine(service, concurrency=1), NUMBERS[:1])
    assert (report.failed, report.retryable_failed, len(service.requests)) == (1, 1, 3)


def test_an_error_that_hits_every_send_stops_the_batch(ledger_store, sleeps):
    service = FakeService({n: AuthenticationError("bad token", code="20003") for n in NUMBERS})
    with pytest.raises(SendStopped) as stopped:
        run(engine(service, ledger_store, concurrency=2), NUMBERS)
    report = stopped.value.report
    assert isinstance(stopped.value.cause, AuthenticationError)
    assert report.failed == len(service.requests) <= 2  # only the sends already under way
    assert report.rows < len(NUMBERS)  # reading stopped too
    assert report.failed + report.not_attempted == report.rows  # and every row read is accounted for


def test_prepare_problems_are_reported_not_raised(sleeps):
    def picky(row: Row) -> PreparedSend:
        if row.number == 2:
            raise ValidationError("body (row 2)", "is empty", "Fill it")
        return prepare(row)

    service = FakeService()
    eng = SendEngine(prepare=picky, sender=service)
    report = asyncio.run(eng.run(iter_rows(NUMBERS[:3])))
    assert report.accepted == 2 and report.invalid_rows == [
        {"row": 2, "to": NUMBERS[1], "error": "body (row 2): is empty. Fill it"}
    ]


def test_progress_line_has_counts_rate_and_eta():
    eng = SendEngine(prepare=prepare, sender=FakeService(), total=1000)
    eng.report.accepted, eng.report.invalid = 190, 10
    line = eng.progress_line(elapsed=2.0)
    assert line.startswith("Sending: 200 of 1000 rows (20.0 %)")
    assert "95.0 msg/s" in line and "ETA 8 s" in line


@pytest.mark.parametrize(
    ("table", "code"),
    [("signalwire", "21210"), ("signalwire", "21606"), ("whatsapp", "131031"), ("whatsapp", "368"),
     ("whatsapp", "131042"), ("whatsapp", "133010")],
)  # fmt: skip
def test_account_level_refusals_from_the_error_table_stop_the_batch(sleeps, table, code):
    from airflow_provider_messaging.signalwire.errors import SIGNALWIRE_ERRORS
    from airflow_provider_messaging.whatsapp.errors import WHATSAPP_ERRORS

    errors = SIGNALWIRE_ERRORS if table == "signalwire" else WHATSAPP_ERRORS
    service = FakeService({n: errors.error(code, f"refused with {code}") for n in NUMBERS})
    with pytest.raises(SendStopped) as stopped:
        run(engine(service, concurrency=2), NUMBERS)
    assert stopped.value.cause.code == code and len(service.requests) <= 2
    assert stopped.value.report.not_attempted > 0


def test_a_refusal_of_one_recipient_from_the_error_table_does_not_stop_the_others(sleeps):
    from airflow_provider_messaging.whatsapp.errors import WHATSAPP_ERRORS

    service = FakeService({NUMBERS[0]: WHATSAPP_ERRORS.error("131026", "undeliverable")})
    report = run(engine(service, concurrency=2), NUMBERS[:5])
    assert (report.accepted, report.failed, report.retryable_failed) == (4, 1, 0)


def test_a_rate_limit_on_one_recipient_makes_only_that_recipient_wait(sleeps):
    from airflow_provider_messaging.whatsapp.errors import WHATSAPP_ERRORS

    pair_limit = WHATSAPP_ERRORS.error("131056", "pair rate limit")
    service = FakeService({NUMBERS[0]: [pair_limit]}, recipient_interval=6.0)
    eng = engine(service, concurrency=2)
    report = run(eng, NUMBERS[:3])
    assert report.accepted == 3 and report.rate_limited == 1
    assert eng.pacer.slow_downs == 0  # nobody else paused
    assert 12.0 in sleeps  # the service's own spacing (6 s), doubled after the first refusal


def test_each_claim_is_in_the_store_before_its_request_and_every_outcome_after_the_run(ledger_store, sleeps):
    """Claims and outcomes are written in groups (windows in a paced run), never after the request."""
    from sqlalchemy import select

    from airflow_provider_messaging.store.store import send_ledger

    eng = engine(FakeService(), ledger_store, concurrency=8, rate=1000.0)
    seen: list[str | None] = []

    class CheckingService(FakeService):
        async def send(self, item):
            key = eng.ledger.key(item.recipient, item.content)
            with ledger_store.engine.connect() as conn:
                seen.append(
                    conn.execute(select(send_ledger.c.state).where(send_ledger.c.key == key)).scalar()
                )
            return await super().send(item)

    eng.sender = CheckingService()
    report = run(eng, NUMBERS)
    assert report.accepted == len(NUMBERS)
    assert seen == ["pending"] * len(NUMBERS)
    assert eng.ledger.counts() == {"accepted": len(NUMBERS)}


def test_a_run_leaves_the_cycle_collector_as_it_found_it(sleeps):
    import gc

    before = gc.get_threshold()
    run(engine(FakeService(), concurrency=4), NUMBERS[:5])
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


class SlowService(FakeService):
    """Each request takes ``seconds``; ``on_request(n)`` is called as the n-th request leaves."""

    def __init__(self, seconds=0.02, on_request=lambda n: None):
        super().__init__()
        self.seconds, self.on_request, self.finished = seconds, on_request, []

    async def send(self, item):
        self.on_request(len(self.requests) + 1)
        result = await super().send(item)
        await asyncio.sleep(self.seconds)
        self.finished.append(item.recipient)
        return result


def test_an_interrupt_lets_the_requests_under_way_finish_and_withdraws_the_claimed_rest(ledger_store):
    from airflow_provider_messaging.core.claims import EntryState
    from airflow_provider_messaging.core.engine import SendInterrupted

    eng = engine(FakeService(), ledger_store, concurrency=8, rate=50.0)  # claimed rows wait for slots
    eng.sender = SlowService(on_request=lambda n: n == 10 and eng.interrupt("the task timed out"))
    with pytest.raises(SendStopped) as stopped:
        run(eng, NUMBERS)
    assert isinstance(stopped.value.cause, SendInterrupted) and "the task timed out" in str(stopped.value)
    report = stopped.value.report
    first = eng.sender.requests
    assert len(first) == 10 and sorted(eng.sender.finished) == sorted(first)  # none cut off mid-request
    assert report.accepted == 10 and report.unknown == 0
    assert report.accepted + report.not_attempted == report.rows
    counts = eng.ledger.counts()
    assert counts["accepted"] == 10 and counts.get(EntryState.WITHDRAWN.value, 0) > 0  # claimed, not sent
    assert EntryState.PENDING.value not in counts and EntryState.UNKNOWN.value not in counts

    retry = engine(FakeService(), ledger_store, try_number=2, concurrency=8)
    report2 = run(retry, NUMBERS)
    assert sorted(retry.sender.requests) == sorted(set(NUMBERS) - set(first))  # the rest, each once
    assert (report2.accepted, report2.already_sent, report2.unknown) == (30, 10, 0)


def test_an_interrupt_wakes_sends_waiting_out_a_rate_limit_pause(ledger_store):
    """A send sleeping before its next try (here a 60 s Retry-After) is withdrawn at once."""
    eng = engine(FakeService(), ledger_store, concurrency=2, retry_policy=RetryPolicy(max_attempts=3))
    limited = RateLimitedError("429", retry_after=60, code="20429")

    class LimitedService(SlowService):
        async def send(self, item):
            if not self.requests:
                asyncio.get_running_loop().call_later(0.2, eng.interrupt, "the task was asked to stop")
                self.requests.append(item.recipient)
                raise limited
            return await super().send(item)

    eng.sender = LimitedService()
    with pytest.raises(SendStopped) as stopped:
        run(eng, NUMBERS[:2])
    assert stopped.value.report.not_attempted >= 1 and stopped.value.report.unknown == 0
    assert "withdrawn" in eng.ledger.counts()


class Alarm(BaseException):
    """Stands for AirflowTaskTimeout: raised by a SIGALRM handler in the main thread."""


def test_a_signal_during_a_blocking_send_stops_the_sends_and_is_raised_with_what_was_sent(ledger_store):
    import signal

    from airflow_provider_messaging.core.engine import run_blocking

    def alarm(signum, frame):
        raise Alarm("execution_timeout")

    eng = engine(FakeService(), ledger_store, concurrency=4, rate=50.0)
    eng.sender = SlowService(on_request=lambda n: n == 5 and signal.setitimer(signal.ITIMER_REAL, 0.001))
    previous = signal.signal(signal.SIGALRM, alarm)
    try:
        with pytest.raises(Alarm) as raised:
            run_blocking(lambda: eng.run(iter_rows(NUMBERS)))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert isinstance(raised.value.__cause__, SendStopped)  # the run stopped; it did not go on
    assert any("What was sent before it:" in note for note in raised.value.__notes__)
    sent = len(eng.sender.requests)
    assert 5 <= sent < len(NUMBERS) and sorted(eng.sender.finished) == sorted(eng.sender.requests)
    assert "pending" not in eng.ledger.counts() and eng.ledger.counts()["accepted"] == sent
