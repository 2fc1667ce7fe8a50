from __future__ import annotations

import pytest

from airflow_provider_messaging.core.states import MessageState, advance, from_signalwire, winning_state

S = MessageState


def test_a_late_sent_after_delivered_is_ignored():
    assert advance(S.DELIVERED, S.SENT) is S.DELIVERED


def test_delivered_after_failed_wins_because_another_device_got_it():
    assert advance(S.FAILED, S.DELIVERED) is S.DELIVERED
    assert advance(S.DELIVERED, S.FAILED) is S.DELIVERED


def test_order_of_events_does_not_change_the_outcome():
    events = [(S.SENT, 1.0), (S.READ, 3.0), (S.DELIVERED, 2.0), (S.SENT, 1.0)]
    assert winning_state(events) is S.READ
    assert winning_state(reversed(events)) is S.READ


def test_equal_rank_keeps_the_later_event():
    assert winning_state([(S.UNDELIVERED, 5.0), (S.FAILED, 4.0)]) is S.UNDELIVERED


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("queued", S.QUEUED),
        ("initiated", S.QUEUED),
        ("sending", S.QUEUED),
        ("sent", S.SENT),
        ("delivered", S.DELIVERED),
        ("undelivered", S.UNDELIVERED),
        ("failed", S.FAILED),
        ("received", S.RECEIVED),
        ("something-new", S.QUEUED),
        (None, S.QUEUED),
    ],
)
def test_signalwire_statuses_map_to_the_state_model(status, state):
    assert from_signalwire(status) is state


def test_parse_names_the_valid_states():
    assert MessageState.parse("Delivered") is S.DELIVERED
    with pytest.raises(ValueError, match="use one of queued, sent"):
        MessageState.parse("deliverd")
