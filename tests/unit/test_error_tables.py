"""Each service's error table: every documented code loads, and says how a sender reacts to it."""

from __future__ import annotations

import pytest

from airflow_provider_messaging.core.errors import (
    AuthenticationError,
    RateLimitedError,
    RecipientError,
    Scope,
    ServiceUnavailableError,
    WindowClosedError,
)
from airflow_provider_messaging.signalwire.errors import SIGNALWIRE_ERRORS
from airflow_provider_messaging.whatsapp.errors import WHATSAPP_ERRORS


@pytest.mark.parametrize("table", [SIGNALWIRE_ERRORS, WHATSAPP_ERRORS], ids=lambda t: t.service)
def test_every_row_has_a_meaning_a_fix_and_a_class(table):
    entries = list(table)
    assert len(entries) > 40
    for entry in entries:
        # numbers; SignalWire's native Messaging API names its codes (invalid_from_number)
        assert entry.meaning and entry.fix and (entry.code.isdigit() or entry.code.replace("_", "").isalpha())
        error = table.error(entry.code, "x")
        assert (
            type(error) is entry.kind
            and error.scope is entry.effective_scope
            and error.service == table.service
        )


@pytest.mark.parametrize(
    ("table", "code", "kind", "stops_batch"),
    [
        (SIGNALWIRE_ERRORS, "20003", AuthenticationError, True),
        (SIGNALWIRE_ERRORS, "21210", None, True),  # the From number is not the project's
        (SIGNALWIRE_ERRORS, "21606", None, True),  # the From number cannot send SMS
        (SIGNALWIRE_ERRORS, "21610", RecipientError, False),  # one recipient replied STOP
        (SIGNALWIRE_ERRORS, "20429", RateLimitedError, False),
        (
            SIGNALWIRE_ERRORS,
            "invalid_from_number",
            None,
            True,
        ),  # native API: the From number is not the project's
        (SIGNALWIRE_ERRORS, "message_blocked_by_number", RecipientError, False),  # native API: STOP
        (SIGNALWIRE_ERRORS, "rate_limit_exceeded", RateLimitedError, False),
        (WHATSAPP_ERRORS, "131031", None, True),  # account locked
        (WHATSAPP_ERRORS, "368", None, True),  # blocked for policy
        (WHATSAPP_ERRORS, "131042", None, True),  # payment problem
        (WHATSAPP_ERRORS, "133010", None, True),  # number not registered
        (WHATSAPP_ERRORS, "132015", None, True),  # template paused
        (WHATSAPP_ERRORS, "132000", None, False),  # parameter count: this row's parameters
        (WHATSAPP_ERRORS, "131026", RecipientError, False),
        (WHATSAPP_ERRORS, "131047", WindowClosedError, False),
        (WHATSAPP_ERRORS, "131000", ServiceUnavailableError, False),
        (WHATSAPP_ERRORS, "250", AuthenticationError, True),  # the 200-299 permission range
    ],
)
def test_codes_are_classified_as_the_services_document_them(table, code, kind, stops_batch):
    error = table.error(code, "refused")
    if kind is not None:
        assert isinstance(error, kind)
    assert error.stops_batch is stops_batch


def test_a_rate_limit_on_one_user_pauses_only_that_user_and_a_throughput_limit_pauses_all():
    assert WHATSAPP_ERRORS.error("131056", "x").scope is Scope.RECIPIENT
    assert WHATSAPP_ERRORS.error("130429", "x").scope is Scope.EVERY_SEND
    assert WHATSAPP_ERRORS.error("131056", "x").retryable


def test_unknown_codes_point_to_the_service_reference():
    assert SIGNALWIRE_ERRORS.describe("99999").startswith("SignalWire error 99999: see https://")
    assert SIGNALWIRE_ERRORS.describe(None) == "no error code given"
    assert SIGNALWIRE_ERRORS.error("99999", "x").stops_batch is False
