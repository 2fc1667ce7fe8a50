"""Recipient numbers that make the sandbox play out a given outcome. Any other number is delivered."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MagicNumber:
    number: str
    outcome: str  # delivered | undelivered | failed | never_delivered | rejected | slow
    error_code: str | None
    description: str


MAGIC_NUMBERS: tuple[MagicNumber, ...] = (
    MagicNumber("+15550001001", "delivered", None, "delivered (so is any number not in this table)"),
    MagicNumber("+15550001002", "undelivered", "30003", "sent, then undelivered: handset unreachable"),
    MagicNumber("+15550001003", "failed", "30007", "failed: filtered by the carrier"),
    MagicNumber(
        "+15550001004", "never_delivered", None, "stays `sent`: no delivery receipt ever comes (like MMS)"
    ),
    MagicNumber(
        "+15550001005", "rejected", "21610", "refused at create with HTTP 400: recipient replied STOP"
    ),
    MagicNumber("+15550001006", "slow", None, "delivered, but 10 times slower than the configured delays"),
)

WHATSAPP_MAGIC_NUMBERS: tuple[MagicNumber, ...] = (
    MagicNumber(
        "+15550002001", "read", None, "sent, delivered, then read (so is any number not in this table)"
    ),
    MagicNumber("+15550002002", "failed", "131026", "sent, then failed: message undeliverable"),
    MagicNumber(
        "+15550002003",
        "window_closed",
        "131047",
        "free-form messages refused: 24-hour window closed (templates pass)",
    ),
    MagicNumber("+15550002004", "never_delivered", None, "stays `sent`: the phone is offline"),
    MagicNumber("+15550002005", "shuffled", None, "every webhook sent twice, `read` before `delivered`"),
    MagicNumber(
        "+15550002006", "multi_device", None, "delivered on one device and failed (131026) on another"
    ),
    MagicNumber(
        "+15550002007", "read", None,
        "a user with a username (`sandbox.user7`): delivered and read; webhooks carry the username and user id",
    ),
    MagicNumber(
        "US.15550002008", "read", None,
        "a user known only by business-scoped user id (username, number withheld): send with `recipient`; "
        "delivered and read, statuses carry `recipient_user_id` and no phone number",
    ),
)  # fmt: skip

_BY_NUMBER = {m.number: m for m in MAGIC_NUMBERS}
_WHATSAPP_BY_NUMBER = {m.number.lstrip("+"): m for m in WHATSAPP_MAGIC_NUMBERS}
DEFAULT = MAGIC_NUMBERS[0]
SLOW_FACTOR = 10.0


def outcome_for(number: str) -> MagicNumber:
    return _BY_NUMBER.get(number, DEFAULT)


def whatsapp_outcome_for(recipient: str) -> MagicNumber:
    """By phone number (with or without '+') or by business-scoped user id."""
    return _WHATSAPP_BY_NUMBER.get(recipient.lstrip("+"), WHATSAPP_MAGIC_NUMBERS[0])


def markdown_table(numbers: tuple[MagicNumber, ...] = MAGIC_NUMBERS) -> str:
    """The table README shows; tests keep README and this module in step."""
    lines = ["| recipient | outcome | error code |", "|---|---|---|"]
    for m in numbers:
        lines.append(f"| `{m.number}` | {m.description} | {m.error_code or '—'} |")
    return "\n".join(lines)
