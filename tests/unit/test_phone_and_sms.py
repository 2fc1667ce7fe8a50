from __future__ import annotations

import pytest

from airflow_provider_messaging.core.errors import ValidationError
from airflow_provider_messaging.core.phone import normalize_e164, normalize_recipients
from airflow_provider_messaging.signalwire.sms import segment_count, validate_content


def test_numbers_are_normalized_to_e164():
    assert normalize_e164("+1 (555) 000-1001") == "+15550001001"
    assert normalize_e164(" +442071838750 ") == "+442071838750"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("5550001001", "has no country code"),
        ("+1555000100", "wrong number of digits"),
        ("+999", "is not a phone number"),
        ("", "is not a phone number"),
        (None, "is not a phone number"),
    ],
)
def test_invalid_numbers_name_the_field_and_the_problem(value, problem):
    with pytest.raises(ValidationError) as err:
        normalize_e164(value, "to")
    assert err.value.field == "to"
    assert problem in str(err.value)
    assert "E.164" in str(err.value) or "digit" in str(err.value)


def test_every_bad_recipient_is_named_in_one_error():
    with pytest.raises(ValidationError) as err:
        normalize_recipients(["+15550001001", "12", "+1555000100"])
    text = str(err.value)
    assert "2 of 3 recipient(s) are invalid" in text
    assert "to[1] '12'" in text and "to[2] '+1555000100'" in text


def test_recipients_accept_comma_separated_text_and_drop_duplicates():
    assert normalize_recipients("+15550001001, +1 555 000 1001,+15550001002") == [
        "+15550001001",
        "+15550001002",
    ]


def test_no_recipient_is_an_error():
    with pytest.raises(ValidationError, match="no recipient given"):
        normalize_recipients([])


def test_empty_body_without_media_is_refused():
    with pytest.raises(ValidationError) as err:
        validate_content("   ", None)
    assert err.value.field == "body" and "empty" in str(err.value)


def test_body_over_1600_characters_is_refused_with_the_excess():
    with pytest.raises(ValidationError) as err:
        validate_content("x" * 1601, None)
    assert "1601 characters is over the 1600-character limit" in str(err.value)
    assert "by 1 characters" in str(err.value)
    assert validate_content("x" * 1600, None)[0] == "x" * 1600


def test_nine_media_urls_are_refused():
    with pytest.raises(ValidationError) as err:
        validate_content(None, [f"https://example.com/{i}.png" for i in range(9)])
    assert err.value.field == "media_urls" and "9 media URLs" in str(err.value)


def test_media_must_be_http_urls():
    with pytest.raises(ValidationError, match="is not an http"):
        validate_content("hi", ["ftp://example.com/a.png"])


def test_media_alone_is_a_valid_mms():
    assert validate_content(None, ["https://example.com/a.png"]) == (None, ["https://example.com/a.png"])


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("é" * 160, 1),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("", 0),
    ],
)
def test_segments_follow_gsm7_and_ucs2_rules(body, segments):
    assert segment_count(body) == segments
