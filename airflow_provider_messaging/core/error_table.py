"""The shape of a service's error table: each documented code, what it means, what to do, and
how a sender reacts to it (the error class, and so whether a retry may help, and its scope)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import MessagingError, PermanentError, Scope


@dataclass(frozen=True)
class ErrorCode:
    """One documented code: what it means, what to do, and how a sender should react."""

    code: str
    meaning: str
    fix: str
    kind: type[MessagingError] = PermanentError
    scope: Scope | None = None  # None: the kind's default

    @property
    def retryable(self) -> bool:
        return self.kind.retryable

    @property
    def effective_scope(self) -> Scope:
        return self.scope or self.kind.default_scope


class ErrorTable:
    """A service's documented error codes, keyed by the code as text.

    The codes live in a CSV file beside the service's module (``code, kind, scope, meaning, fix``;
    ``kind`` names a class of this module, an empty ``scope`` means the kind's default), read on
    first use.
    """

    def __init__(
        self,
        service: str,
        label: str,
        source: Path,
        *,
        reference: str,
        fallback: Callable[[str], ErrorCode | None] = lambda code: None,
    ) -> None:
        self.service = service
        self.label = label  # "SignalWire", "WhatsApp"
        self.reference = reference  # where to read about codes the table lacks
        self._source = source
        self._fallback = fallback

    @cached_property
    def _codes(self) -> dict[str, ErrorCode]:
        kinds = {kind.__name__: kind for kind in _subclasses(MessagingError)}
        codes: dict[str, ErrorCode] = {}
        with self._source.open(newline="", encoding="utf-8") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                code = row["code"].strip()
                if code in codes or row["kind"] not in kinds:
                    raise ValueError(f"{self._source.name} line {line}: code {code} twice, or unknown kind")
                codes[code] = ErrorCode(code, row["meaning"], row["fix"], kinds[row["kind"]],
                                        Scope(row["scope"]) if row["scope"] else None)  # fmt: skip
        return codes

    def __contains__(self, code: object) -> bool:
        return self.get(code) is not None  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[ErrorCode]:
        return iter(self._codes.values())

    def get(self, code: str | int | None) -> ErrorCode | None:
        if code is None or str(code).strip() == "":
            return None
        key = str(code).strip()
        return self._codes.get(key) or self._fallback(key)

    def meaning(self, code: str | int | None) -> str | None:
        entry = self.get(code)
        return entry.meaning if entry else None

    def describe(self, code: str | int | None) -> str:
        """``"SignalWire error 30003 (the handset is unreachable): try again later"``."""
        if code is None or str(code).strip() == "":
            return "no error code given"
        entry = self.get(code)
        if entry is None:
            return f"{self.label} error {code}: see {self.reference}"
        return f"{self.label} error {code} ({entry.meaning}): {entry.fix}"

    def error(
        self,
        code: str | int | None,
        message: str,
        *,
        default: type[MessagingError] = PermanentError,
        **kwargs: Any,
    ) -> MessagingError:
        """The error for ``code``, of the class and scope the table gives (``default`` if unlisted)."""
        entry = self.get(code)
        kind = entry.kind if entry else default
        scope = entry.effective_scope if entry else None
        return kind(message, service=self.service, code=code, scope=scope, **kwargs)


def _subclasses(base: type[MessagingError]) -> Iterator[type[MessagingError]]:
    yield base
    for sub in base.__subclasses__():
        yield from _subclasses(sub)
