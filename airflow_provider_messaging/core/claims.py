"""What the send engine asks of a send ledger, and the words both use.

The ledger itself (a table in the status store) lives in ``store/ledger.py``; the engine only needs
to claim keys before sending and record outcomes after, in groups.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol


class EntryState(str, enum.Enum):
    """Where a ledger entry stands (the values are stored)."""

    PENDING = "pending"  # claimed; the request may be under way
    ACCEPTED = "accepted"  # the service accepted it (message id known)
    FAILED = "failed"  # the service refused it or was unavailable
    UNKNOWN = "unknown"  # the request left and no answer came back
    WITHDRAWN = "withdrawn"  # claimed, then the run was stopped before the request left


class Action(str, enum.Enum):
    """What a claim tells the sender to do with one key."""

    SEND = "send"
    ALREADY_SENT = "already_sent"  # an earlier try's send was accepted: reuse its message id
    OUTCOME_UNKNOWN = "outcome_unknown"  # an earlier try's request may have reached the service
    DUPLICATE = "duplicate"  # the same recipient and content again in this try (or claimed by a later try)


@dataclass(frozen=True)
class Decision:
    action: Action
    message_id: str | None = None


@dataclass(frozen=True)
class Outcome:
    key: str
    state: EntryState
    message_id: str | None = None
    error_code: str | None = None


class Ledger(Protocol):
    @property
    def writes_are_local(self) -> bool:
        """True when a write is cheap enough to run on the event loop (a local SQLite file)."""

    def claim(self, items: Sequence[tuple[str, str]]) -> dict[str, Decision]:
        """Claim ``(key, recipient)`` pairs at once; says per key whether to send."""

    def record(self, outcomes: Iterable[Outcome]) -> None:
        """Store what the service said, at once."""

    def key(self, recipient: str, content: object) -> str:
        """The key of sending ``content`` to ``recipient`` in this task run."""
