"""E.164 phone numbers: parse what people type, refuse what no network could route.

``phonenumbers`` (Google's libphonenumber metadata) knows each country's numbering plan, so a
digit dropped from a number (``+4915112345``) or a number in a range no operator was given is
caught before a request is made. It is imported on first use, not at DAG parse time.

Test ranges are the escape: numbers that start with one of the prefixes in
``AIRFLOW__MESSAGING__TEST_NUMBER_PREFIXES`` (or ``[messaging] test_number_prefixes``; comma
separated; default ``+1555``, the North American area code that was never assigned, which the
sandbox's magic numbers use) are checked for their length only.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable

from .errors import ValidationError

TEST_PREFIXES_ENV = "AIRFLOW__MESSAGING__TEST_NUMBER_PREFIXES"
DEFAULT_TEST_PREFIXES = "+1555"
# what people put between digits; anything else (letters above all) is refused, not translated
_SEPARATORS = re.compile(r"[\s().\-/]")
_EXAMPLE = "e.g. '+4915112345678'"


def test_number_prefixes() -> tuple[str, ...]:
    """The configured test ranges, read each time (a task may set the variable)."""
    raw = os.environ.get(TEST_PREFIXES_ENV)
    if raw is None:  # under Airflow its config is loaded already; nothing is imported for it here
        conf = getattr(sys.modules.get("airflow.configuration"), "conf", None)
        raw = conf.get("messaging", "test_number_prefixes", fallback=None) if conf is not None else None
    if raw is None:
        raw = DEFAULT_TEST_PREFIXES
    return tuple("+" + p.strip().lstrip("+") for p in raw.split(",") if p.strip())


_VALID: dict[str, str] = {}  # text -> E.164 of numbers valid in their numbering plan, recently checked
_VALID_KEPT = 4096


def normalize_e164(value: object, field: str = "to") -> str:
    """Return ``value`` as ``+<country><number>`` or raise ``ValidationError`` naming ``field``.

    A number found valid is remembered for a while: a broadcast checks each row's number, and the
    message built from the row checks it again.
    """
    if isinstance(value, str):
        known = _VALID.get(value)
        if known is not None:
            return known
    import phonenumbers

    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            field, f"{value!r} is not a phone number", f"Pass a number in E.164 form, {_EXAMPLE}"
        )
    text = value.strip()
    if not text.startswith("+"):
        raise ValidationError(
            field,
            f"{text!r} has no country code",
            f"Write the number in E.164 form: '+', the country code, then the number ({_EXAMPLE})",
        )
    digits = _SEPARATORS.sub("", text[1:])
    if not digits.isdigit():
        bad = sorted({ch for ch in digits if not ch.isdigit()})
        raise ValidationError(
            field,
            f"{text!r} holds {', '.join(repr(ch) for ch in bad)}, which no phone number has",
            "Write the digits themselves (a number spelled in letters is not translated)",
        )
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            field, f"{text!r} is not a phone number ({exc})", f"Write it in E.164 form, {_EXAMPLE}"
        ) from None
    if not phonenumbers.is_possible_number(number):
        raise ValidationError(
            field,
            f"{text!r} has the wrong number of digits for country code +{number.country_code}",
            "Check for a missing or extra digit",
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    main_region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    # valid in the country code's main region (the US for +1) settles it without trying the others
    if phonenumbers.is_valid_number_for_region(number, main_region) or phonenumbers.is_valid_number(number):
        if len(_VALID) >= _VALID_KEPT:
            _VALID.clear()
        _VALID[value] = _VALID[e164] = e164
        return e164
    if not e164.startswith(test_number_prefixes()):
        raise ValidationError(
            field,
            f"{text!r} is not a valid number in the numbering plan of country code +{number.country_code}",
            "Check for a missing or mistyped digit; for a test range, add its prefix to "
            f"{TEST_PREFIXES_ENV} (now {','.join(test_number_prefixes()) or 'empty'})",
        )
    return e164


def normalize_recipients(
    value: object, field: str = "to", parse: Callable[[object, str], str] = normalize_e164
) -> list[str]:
    """One recipient, a comma-separated string or a list -> unique recipients in the given order.

    ``parse`` checks one recipient (default: an E.164 number). Every entry is checked first, and
    all bad entries are named in one error, so nothing is sent when any recipient is wrong.
    """
    if isinstance(value, str):
        items: list[object] = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
    else:
        raise ValidationError(
            field,
            f"expected a phone number or a list of them, got {type(value).__name__}",
            "Pass e.g. '+15551230002' or ['+15551230002', '+15551230003']",
        )
    if not items:
        raise ValidationError(field, "no recipient given", "Pass at least one recipient")
    recipients: list[str] = []
    problems: list[str] = []
    fixes: dict[str, None] = {}
    for index, item in enumerate(items):
        try:
            recipient = parse(item, f"{field}[{index}]")
        except ValidationError as exc:
            problems.append(f"{exc.field} {exc.problem}")
            fixes[exc.fix] = None
            continue
        if recipient not in recipients:
            recipients.append(recipient)
    if problems:
        raise ValidationError(
            field,
            f"{len(problems)} of {len(items)} recipient(s) are invalid: " + "; ".join(problems),
            "Fix or remove them: " + "; ".join(fixes),
        )
    return recipients
