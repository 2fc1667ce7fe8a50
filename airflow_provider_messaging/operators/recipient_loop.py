"""Sending one message to each recipient, the same way for every service.

A recipient the service refuses does not stop the others. An error that would hit every send
(credentials, configuration, a broken template) stops at once.

With the send ledger (inside a task run) each recipient is claimed before the send and the outcome
recorded after it, so a retry of the task skips whoever was already sent to: a failure part-way
through is then safe to retry. Without it (called outside a task run), a failure after some
messages were accepted stops the task without retry, so that nobody is messaged twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from ..core.errors import (
    HITS_EVERY_SEND,
    MessagingError,
    OutcomeUnknownError,
    PermanentError,
    TransientError,
)

if TYPE_CHECKING:  # the ledger pulls in SQLAlchemy: only when a task runs, not at DAG parse
    from ..tracking.ledger import TaskLedger

T = TypeVar("T")


class _Log(Protocol):
    def error(self, msg: str, /, *args: object) -> object: ...
    def warning(self, msg: str, /, *args: object) -> object: ...
    def info(self, msg: str, /, *args: object) -> object: ...


@dataclass
class SendOutcome(Generic[T]):
    sent: list[T] = field(default_factory=list)
    refused: list[tuple[str, PermanentError]] = field(default_factory=list)
    already_sent: list[tuple[str, str | None]] = field(default_factory=list)  # (recipient, message id)
    unknown: list[str] = field(default_factory=list)

    def raise_for_refused(self, total: int) -> None:
        if self.refused:
            names = "; ".join(f"{number}: {exc}" for number, exc in self.refused)
            raise PermanentError(
                f"{len(self.refused)} of {total} recipient(s) were refused and {len(self.sent)} sent "
                f"(ids in XCom 'messages'). Refused: {names}"
            )


def send_to_each(
    recipients: Sequence[str],
    send_one: Callable[[str], T],
    message_id: Callable[[T], str],
    log: _Log,
    on_stop: Callable[[list[T]], None] = lambda sent: None,
    ledger: TaskLedger | None = None,
) -> SendOutcome[T]:
    """Call ``send_one`` per recipient; ``on_stop`` sees what was sent before the loop had to stop."""
    from ..tracking.ledger import ACCEPTED, ALREADY_SENT, FAILED, SEND, UNKNOWN

    outcome: SendOutcome[T] = SendOutcome()
    for index, recipient in enumerate(recipients):
        key = None
        if ledger is not None:
            key, decision = ledger.claim_one(recipient)
            if decision.action == ALREADY_SENT:
                log.info("Already sent to %s by an earlier try (%s): skipped", recipient, decision.message_id)
                outcome.already_sent.append((recipient, decision.message_id))
                continue
            if decision.action != SEND:
                log.warning(
                    "Not sending to %s: an earlier try's request may have reached the service "
                    "(on_unknown='resend' sends anyway)",
                    recipient,
                )
                outcome.unknown.append(recipient)
                continue

        def record(
            state: str, exc: MessagingError | None = None, result: T | None = None, key: str | None = key
        ) -> None:
            if ledger is not None and key is not None:
                mid = message_id(result) if result is not None else None
                ledger.record_one(key, state, mid, exc.code if exc else None)

        try:
            result = send_one(recipient)
        except HITS_EVERY_SEND as exc:
            record(FAILED, exc)
            on_stop(outcome.sent)
            raise
        except PermanentError as exc:
            record(FAILED, exc)
            log.error("The service refused the message to %s: %s", recipient, exc)
            outcome.refused.append((recipient, exc))
            continue
        except OutcomeUnknownError as exc:
            record(UNKNOWN, exc)
            on_stop(outcome.sent)
            if not (outcome.sent or outcome.refused):
                raise
            rest = (
                "clear it to send to the rest (the send ledger skips whoever already has it)"
                if ledger is not None
                else "send to the remaining recipients in a new run"
            )
            raise OutcomeUnknownError(
                f"Sending stopped after {len(outcome.sent)} message(s) were accepted: {exc}. Not sent (or outcome "
                f"unknown): {', '.join(recipients[index:])}. The task is not retried so nobody is messaged twice; "
                f"{rest}."
            ) from exc
        except Exception as exc:
            if isinstance(exc, MessagingError):
                record(FAILED, exc)
            else:
                record(UNKNOWN)
            on_stop(outcome.sent)
            if ledger is not None and isinstance(exc, TransientError):
                raise TransientError(
                    f"Sending stopped after {len(outcome.sent)} message(s) were accepted: {exc}. A retry of "
                    "the task sends only to the recipients not yet sent (the ledger skips the others).",
                    retry_after=exc.retry_after,
                ) from exc
            if not (outcome.sent or outcome.refused):
                raise
            raise OutcomeUnknownError(
                f"Sending stopped after {len(outcome.sent)} message(s) were accepted: {exc}. Not sent (or outcome "
                f"unknown): {', '.join(recipients[index:])}. The task is not retried so nobody is messaged twice; "
                "send to the remaining recipients in a new run."
            ) from exc
        record(ACCEPTED, result=result)
        outcome.sent.append(result)
    return outcome
