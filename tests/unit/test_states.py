from __future__ import annotations

import pytest

from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.signalwire.statuses import state_of

S = MessageState


def test_states_rank_so_that_a_message_only_moves_up():
    # a late "sent" never undoes "delivered"; a success on any device outranks a failure on another
    assert S.QUEUED.rank < S.SENT.rank < S.FAILED.rank == S.UNDELIVERED.rank < S.DELIVERED.rank < S.READ.rank
    assert S.FAILED.is_failure and S.UNDELIVERED.is_failure and not S.DELIVERED.is_failure


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
    assert state_of(status) is state


def test_parse_names_the_valid_states():
    assert MessageState.parse("Delivered") is S.DELIVERED
    with pytest.raises(ValueError, match="use one of queued, sent"):
        MessageState.parse("deliverd")
