"""E.164 phone numbers: parse what people type, refuse what no network could route.

``phonenumbers`` (Google's libphonenumber metadata) knows each country's number lengths, so a
digit dropped from a number is caught before a request is made. It is imported on first use, not
at DAG parse time.
"""

from __future__ import annotations

from .errors import ValidationError


def normalize_e164(value: object, field: str = "to") -> str:
    """Return ``value`` as ``+<country><number>`` or raise ``ValidationError`` naming ``field``."""
    import phonenumbers

    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            field, f"{value!r} is not a phone number", "Pass a number in E.164 form, e.g. '+15551230002'"
        )
    text = value.strip()
    if not text.startswith("+"):
        raise ValidationError(
            field,
            f"{text!r} has no country code",
            "Write the number in E.164 form: '+', the country code, then the number (e.g. '+15551230002')",
        )
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            field, f"{text!r} is not a phone number ({exc})", "Write it in E.164 form, e.g. '+15551230002'"
        ) from None
    if not phonenumbers.is_possible_number(number):
        raise ValidationError(
            field,
            f"{text!r} has the wrong number of digits for country code +{number.country_code}",
            "Check for a missing or extra digit",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_recipients(value: object, field: str = "to") -> list[str]:
    """One number, a comma-separated string or a list -> unique E.164 numbers in the given order.

    Every entry is checked first, and all bad entries are named in one error, so nothing is sent
    when any recipient is wrong.
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
        raise ValidationError(field, "no recipient given", "Pass at least one phone number")
    numbers: list[str] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        try:
            number = normalize_e164(item, f"{field}[{index}]")
        except ValidationError as exc:
            problems.append(f"{exc.field} {exc.problem}")
            continue
        if number not in numbers:
            numbers.append(number)
    if problems:
        raise ValidationError(
            field,
            f"{len(problems)} of {len(items)} recipient(s) are invalid: " + "; ".join(problems),
            "Fix or remove them and write each number in E.164 form, e.g. '+15551230002'",
        )
    return numbers
