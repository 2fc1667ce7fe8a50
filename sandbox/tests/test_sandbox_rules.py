"""The magic numbers and fault knobs: documented in the repository README, drawn as configured."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from messaging_sandbox.faults import FaultKnobs
from messaging_sandbox.magic import (
    MAGIC_NUMBERS,
    WHATSAPP_MAGIC_NUMBERS,
    markdown_table,
    outcome_for,
    whatsapp_outcome_for,
)

README = Path(__file__).resolve().parents[2] / "README.md"
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
BSUID = re.compile(r"[A-Z]{2}\.[A-Za-z0-9]{1,128}")  # Meta's business-scoped user ID page


def test_readme_documents_every_magic_number_exactly():
    text = README.read_text()
    start = text.index("<!-- magic-numbers:start -->") + len("<!-- magic-numbers:start -->")
    end = text.index("<!-- magic-numbers:end -->")
    assert text[start:end].strip() == markdown_table()


def test_magic_recipients_are_valid_e164_or_user_ids_and_unknown_ones_deliver():
    for magic in MAGIC_NUMBERS + WHATSAPP_MAGIC_NUMBERS:
        assert E164.fullmatch(magic.number) or (
            magic in WHATSAPP_MAGIC_NUMBERS and BSUID.fullmatch(magic.number)
        )
    assert whatsapp_outcome_for("US.13491208655302741918").outcome == "read"
    assert outcome_for("+442071838750").outcome == "delivered"
    assert outcome_for("+15550001002").error_code == "30003"
    assert whatsapp_outcome_for("442071838750").outcome == "read"
    assert whatsapp_outcome_for("15550002003").error_code == "131047"


def test_fault_draws_follow_the_configured_shares():
    knobs = FaultKnobs(error_rate=0.1, rate_limit_rate=0.2, seed=3)
    draws = [knobs.draw() for _ in range(10_000)]
    assert 800 < draws.count("error") < 1200
    assert 1700 < draws.count("rate_limit") < 2300


def test_a_throughput_answers_429_to_what_goes_over_it_in_a_second():
    knobs = FaultKnobs(throughput=5)
    draws = [knobs.draw() for _ in range(8)]  # well within one second
    assert draws == [None] * 5 + ["rate_limit"] * 3
    assert "_taken" not in knobs.as_dict() and knobs.as_dict()["throughput"] == 5


def test_fault_knobs_refuse_nonsense():
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultKnobs(error_rate=2)
    with pytest.raises(ValueError, match="unknown fault knob"):
        FaultKnobs.from_dict({"eror_rate": 0.1})
    with pytest.raises(ValueError, match="5xx"):
        FaultKnobs(error_status=404)


def test_readme_documents_every_whatsapp_magic_number_exactly():
    text = README.read_text()
    start = text.index("<!-- whatsapp-magic-numbers:start -->") + len("<!-- whatsapp-magic-numbers:start -->")
    end = text.index("<!-- whatsapp-magic-numbers:end -->")
    assert text[start:end].strip() == markdown_table(WHATSAPP_MAGIC_NUMBERS)
