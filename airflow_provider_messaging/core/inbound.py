"""Which inbound messages a waiting task is looking for: from whom, and saying what."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from .errors import ValidationError
from .events import InboundMessage


def compile_pattern(pattern: str | None, field: str = "pattern") -> re.Pattern[str] | None:
    """A case-insensitive regular expression, or a clear error naming the field."""
    if pattern is None or pattern == "":
        return None
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValidationError(
            field, f"{pattern!r} is not a valid regular expression ({exc})", "e.g. '^(yes|approve)$'"
        ) from None


def _digits(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit())


@dataclass(frozen=True)
class InboundFilter:
    """Messages from one of ``senders`` (E.164; empty: anyone) whose text matches ``pattern``.

    The text is stripped before matching, so ``^(yes|approve)$`` accepts " Yes ".
    """

    senders: tuple[str, ...] = ()
    pattern: str | None = None

    @classmethod
    def of(cls, senders: str | Sequence[str] | None, pattern: str | None) -> InboundFilter:
        from .phone import normalize_recipients

        numbers = tuple(normalize_recipients(senders, "from_numbers")) if senders else ()
        compile_pattern(pattern)
        return cls(numbers, pattern or None)

    def store_senders(self) -> list[str]:
        """The senders as the store may hold them: WhatsApp drops the '+', SignalWire keeps it."""
        return [form for n in self.senders for form in (n, _digits(n))]

    @cached_property
    def _sender_digits(self) -> frozenset[str]:
        return frozenset(_digits(n) for n in self.senders)

    @cached_property
    def _regex(self) -> re.Pattern[str] | None:
        return compile_pattern(self.pattern)

    def matches(self, message: InboundMessage) -> bool:
        if self.senders and _digits(message.sender) not in self._sender_digits:
            return False
        return self._regex is None or bool(self._regex.search((message.text or "").strip()))

    def first(self, messages: Iterable[InboundMessage]) -> InboundMessage | None:
        return next((m for m in messages if self.matches(m)), None)
