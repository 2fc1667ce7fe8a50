"""Sending one message to each recipient, the same way for every service.

A recipient the service refuses does not stop the others. An error that would hit every send
(credentials, configuration, a broken template) stops at once. Any other failure after some
messages were accepted stops the task without retry, so that a retry never messages anyone twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from ..core.errors import (
    AuthenticationError,
    ConfigurationError,
    OutcomeUnknownError,
    PermanentError,
    TemplateError,
)

T = TypeVar("T")


class _Log(Protocol):
    def error(self, msg: str, /, *args: object) -> object: ...


STOP_AT_ONCE = (AuthenticationError, ConfigurationError, TemplateError)


@dataclass
class SendOutcome(Generic[T]):
    sent: list[T] = field(default_factory=list)
    refused: list[tuple[str, PermanentError]] = field(default_factory=list)

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
    log: _Log,
    on_stop: Callable[[list[T]], None] = lambda sent: None,
) -> SendOutcome[T]:
    """Call ``send_one`` per recipient; ``on_stop`` sees what was sent before the loop had to stop."""
    outcome: SendOutcome[T] = SendOutcome()
    for index, recipient in enumerate(recipients):
        try:
            outcome.sent.append(send_one(recipient))
        except STOP_AT_ONCE:
            on_stop(outcome.sent)
            raise
        except PermanentError as exc:
            log.error("The service refused the message to %s: %s", recipient, exc)
            outcome.refused.append((recipient, exc))
        except Exception as exc:
            if not (outcome.sent or outcome.refused):
                raise
            on_stop(outcome.sent)
            raise OutcomeUnknownError(
                f"Sending stopped after {len(outcome.sent)} message(s) were accepted: {exc}. Not sent (or outcome "
                f"unknown): {', '.join(recipients[index:])}. The task is not retried so nobody is messaged twice; "
                "send to the remaining recipients in a new run."
            ) from exc
    return outcome
