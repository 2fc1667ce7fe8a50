"""Which inbound messages a waiting task is looking for: from whom, and saying what."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
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


_PHONE = re.compile(r"^\+?[\d\s().\-]+$")


def _key(sender: str) -> str:
    """A phone number by its digits (with or without '+'); any other id (a user id) as it is."""
    return "".join(ch for ch in sender if ch.isdigit()) if _PHONE.match(sender) else sender.strip()


@dataclass(frozen=True)
class InboundFilter:
    """Messages from one of ``senders`` (empty: anyone) whose text matches ``pattern``.

    A sender is an E.164 number, or whatever ``parse`` accepts besides (WhatsApp: a user id). The
    text is stripped before matching, so ``^(yes|approve)$`` accepts " Yes ". Notices from the
    service itself (``system``: a user changed number) are no reply.
    """

    senders: tuple[str, ...] = ()
    pattern: str | None = None

    @classmethod
    def of(
        cls,
        senders: str | Sequence[str] | None,
        pattern: str | None,
        parse: Callable[[object, str], str] | None = None,
    ) -> InboundFilter:
        from .phone import normalize_e164, normalize_recipients

        found = (
            tuple(normalize_recipients(senders, "from_numbers", parse or normalize_e164)) if senders else ()
        )
        compile_pattern(pattern)
        return cls(found, pattern or None)

    def store_senders(self) -> list[str]:
        """The senders as the store may hold them (WhatsApp drops the '+', SignalWire keeps it);
        empty when a sender is a user id, which the store may keep under the user's number."""
        if not all(_PHONE.match(n) for n in self.senders):
            return []
        return [form for n in self.senders for form in (n, _key(n))]

    @cached_property
    def _sender_keys(self) -> frozenset[str]:
        return frozenset(_key(n) for n in self.senders)

    @cached_property
    def _regex(self) -> re.Pattern[str] | None:
        return compile_pattern(self.pattern)

    def matches(self, message: InboundMessage) -> bool:
        if message.kind == "system":
            return False
        if self.senders and self._sender_keys.isdisjoint(_key(n) for n in message.senders):
            return False
        return self._regex is None or bool(self._regex.search((message.text or "").strip()))

    def first(self, messages: Iterable[InboundMessage]) -> InboundMessage | None:
        return next((m for m in messages if self.matches(m)), None)
