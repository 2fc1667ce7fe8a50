"""Which rows of a broadcast one shard sends, when dynamic task mapping splits it over workers.

A shard is ``(index, count)``: shard ``index`` of ``count``. Every shard reads the same rows and
keeps those whose *recipient* hashes to it, so the split is the same on every worker and on every
retry (a stable hash, not Python's per-process ``hash``), and a recipient listed twice lands in
one shard, whose ledger sends it once, as an unsplit broadcast would. Rows whose recipient cannot
be read (reported as invalid) go by row number, so each is reported by exactly one shard.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ValidationError


@dataclass(frozen=True)
class Shard:
    index: int
    count: int

    @classmethod
    def of(cls, value: Any, field: str = "shard") -> Shard | None:
        """``None``, ``(index, count)``, ``[index, count]`` or ``"index/count"`` (0-based index)."""
        if value is None:
            return None
        if isinstance(value, Shard):
            return value
        parts: Sequence[Any] = value.split("/") if isinstance(value, str) else value
        try:
            index, count = (int(part) for part in parts)
        except (TypeError, ValueError):
            raise ValidationError(
                field, f"{value!r} is not a shard", "Pass (index, count), e.g. shard=(0, 4), or use shards(4)"
            ) from None
        if not 0 <= index < count:
            raise ValidationError(
                field, f"index {index} is not between 0 and {count - 1}", "Use shards(count) to make them"
            )
        return cls(index, count)

    def owns(self, recipient: str) -> bool:
        """Whether this shard sends to ``recipient`` (as normalized: E.164 or a user id)."""
        return zlib.crc32(recipient.encode()) % self.count == self.index

    def owns_row(self, number: int) -> bool:
        """Whether this shard reports row ``number`` (1-based), whose recipient could not be read."""
        return (number - 1) % self.count == self.index

    def __str__(self) -> str:
        return f"shard {self.index + 1} of {self.count}"


def shards(count: int) -> list[tuple[int, int]]:
    """``[(0, count), (1, count), ...]``: the values to ``.expand(shard=...)`` a broadcast over."""
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"shards(count): count must be a positive integer, got {count!r}")
    return [(index, count) for index in range(count)]
