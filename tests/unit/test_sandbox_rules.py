from __future__ import annotations

import pathlib

import pytest

from airflow_provider_messaging.sandbox.faults import FaultKnobs
from airflow_provider_messaging.sandbox.magic import MAGIC_NUMBERS, markdown_table, outcome_for

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_documents_every_magic_number_exactly():
    text = README.read_text()
    start = text.index("<!-- magic-numbers:start -->") + len("<!-- magic-numbers:start -->")
    end = text.index("<!-- magic-numbers:end -->")
    assert text[start:end].strip() == markdown_table()


def test_magic_numbers_are_valid_e164_and_unknown_numbers_deliver():
    from airflow_provider_messaging.core.phone import normalize_e164

    for magic in MAGIC_NUMBERS:
        assert normalize_e164(magic.number) == magic.number
    assert outcome_for("+442071838750").outcome == "delivered"
    assert outcome_for("+15550001002").error_code == "30003"


def test_fault_draws_follow_the_configured_shares():
    knobs = FaultKnobs(error_rate=0.1, rate_limit_rate=0.2, seed=3)
    draws = [knobs.draw() for _ in range(10_000)]
    assert 800 < draws.count("error") < 1200
    assert 1700 < draws.count("rate_limit") < 2300


def test_fault_knobs_refuse_nonsense():
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultKnobs(error_rate=2)
    with pytest.raises(ValueError, match="unknown fault knob"):
        FaultKnobs.from_dict({"eror_rate": 0.1})
    with pytest.raises(ValueError, match="5xx"):
        FaultKnobs(error_status=404)


def test_readme_documents_every_whatsapp_magic_number_exactly():
    from airflow_provider_messaging.sandbox.magic import WHATSAPP_MAGIC_NUMBERS

    text = README.read_text()
    start = text.index("<!-- whatsapp-magic-numbers:start -->") + len("<!-- whatsapp-magic-numbers:start -->")
    end = text.index("<!-- whatsapp-magic-numbers:end -->")
    assert text[start:end].strip() == markdown_table(WHATSAPP_MAGIC_NUMBERS)
