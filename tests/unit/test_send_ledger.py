"""The send ledger on SQLite and PostgreSQL: claims, outcomes and what a later try does with them."""

from __future__ import annotations

import threading

from airflow_provider_messaging.core.claims import Action, EntryState, Outcome
from airflow_provider_messaging.store.ledger import LedgerScope, SendLedger, content_digest

SEND, ALREADY_SENT, OUTCOME_UNKNOWN, DUPLICATE = (
    Action.SEND, Action.ALREADY_SENT, Action.OUTCOME_UNKNOWN, Action.DUPLICATE
)  # fmt: skip
ACCEPTED, FAILED, UNKNOWN = EntryState.ACCEPTED, EntryState.FAILED, EntryState.UNKNOWN


def scope(try_number=1, **kw):
    base = dict(service="whatsapp", dag_id="d", task_id="t", run_id="r", map_index=-1)
    base.update(kw)
    return LedgerScope(try_number=try_number, **base)


def keys(s, *recipients):
    digest = content_digest({"template": "weekly_report"})
    return [(s.key(r, digest), r) for r in recipients]


def test_first_claim_sends_and_the_same_try_never_sends_a_key_twice(store):
    ledger = SendLedger(store, scope())
    items = keys(ledger.scope, "+15550002001", "+15550002002")
    assert {d.action for d in ledger.claim(items).values()} == {SEND}
    assert {d.action for d in ledger.claim(items).values()} == {DUPLICATE}  # claimed in this try, in flight


def test_a_row_that_failed_earlier_in_the_same_try_is_a_duplicate_not_already_sent(store):
    ledger = SendLedger(store, scope())
    (item,) = keys(ledger.scope, "+15550002001")
    ledger.claim([item])
    ledger.record([Outcome(item[0], FAILED, error_code="131026")])
    again = ledger.claim([item])[item[0]]
    assert again.action == DUPLICATE and again.message_id is None


def test_a_retry_skips_accepted_resends_failed_and_leaves_unknown_alone(store):
    first = SendLedger(store, scope(1))
    a, b, c, d = keys(first.scope, "+1555000201", "+1555000202", "+1555000203", "+1555000204")
    first.claim([a, b, c, d])
    first.record([Outcome(a[0], ACCEPTED, "wamid.A"), Outcome(b[0], FAILED, error_code="131000"),
                  Outcome(c[0], UNKNOWN)])  # d: claimed, then the worker died  # fmt: skip
    retry = SendLedger(store, scope(2)).claim([a, b, c, d])
    assert retry[a[0]].action == ALREADY_SENT and retry[a[0]].message_id == "wamid.A"
    assert retry[b[0]].action == SEND
    assert retry[c[0]].action == OUTCOME_UNKNOWN
    assert retry[d[0]].action == OUTCOME_UNKNOWN
    assert SendLedger(store, scope(2)).counts() == {"accepted": 1, "pending": 2, "unknown": 1}


def test_on_unknown_resend_and_force_resend(store):
    first = SendLedger(store, scope(1))
    a, u = keys(first.scope, "+15550002001", "+15550002009")
    first.claim([a, u])
    first.record([Outcome(a[0], ACCEPTED, "wamid.A"), Outcome(u[0], UNKNOWN)])
    resend_unknown = SendLedger(store, scope(2), resend_unknown=True).claim([a, u])
    assert (resend_unknown[a[0]].action, resend_unknown[u[0]].action) == (ALREADY_SENT, SEND)
    forced = SendLedger(store, scope(3), force_resend=True).claim([a])
    assert forced[a[0]].action == SEND


def test_other_runs_content_and_map_indexes_are_separate(store):
    digest = content_digest({"body": "hi"})
    s1, s2, s3 = scope(run_id="r1"), scope(run_id="r2"), scope(run_id="r1", map_index=3)
    assert len({s1.key("+15550001001", digest), s2.key("+15550001001", digest), s3.key("+15550001001", digest),
                s1.key("+15550001001", content_digest({"body": "hello"}))}) == 4  # fmt: skip


def test_two_workers_claiming_the_same_keys_send_each_once(store):
    """A zombie and its retry (or two threads) racing: every key goes to exactly one of them."""
    items = keys(scope(), *[f"+1555000{n:04d}" for n in range(200)])
    winners: list[str] = []
    lock = threading.Lock()

    def worker(try_number):
        ledger = SendLedger(store, scope(try_number))
        for start in range(0, len(items), 20):
            decisions = ledger.claim(items[start : start + 20])
            with lock:
                winners.extend(k for k, dec in decisions.items() if dec.action == SEND)

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 1, 2, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 200 and len(set(winners)) == 200
