"""Deciding whether a set of messages reached the states a pipeline waits for.

One implementation for the poke-mode sensors and their deferrable triggers: both collect
``Observation``s and ask a ``DeliveryGate`` for a ``Verdict``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .states import MessageState


@dataclass(frozen=True)
class Observation:
    """What is known about one message right now."""

    message_id: str
    state: MessageState
    status: str | None = None
    recipient: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    error_meaning: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "status": self.status,
            "to": self.recipient,
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


@dataclass(frozen=True)
class Verdict:
    done: bool
    passed: bool = False
    failed: list[Observation] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    succeeded_count: int = 0
    required: int = 0
    timed_out: bool = False

    @property
    def gate_failed(self) -> bool:
        """Done, and the required share of messages can no longer succeed."""
        return self.done and not self.passed


@dataclass(frozen=True)
class DeliveryGate:
    """Succeeds when every message is in a success state; fails as soon as one is in a failure state.

    A state beyond a success state counts as success when it is no failure: ``read`` satisfies
    ``delivered``, and ``delivered`` satisfies ``sent``.
    """

    success_states: frozenset[MessageState]
    failure_states: frozenset[MessageState]
    min_success_fraction: float = 1.0

    @classmethod
    def of(
        cls,
        success_states: Iterable[str | MessageState],
        failure_states: Iterable[str | MessageState],
        min_success_fraction: float = 1.0,
    ) -> DeliveryGate:
        success = frozenset(MessageState.parse(s) for s in success_states)
        failure = frozenset(MessageState.parse(s) for s in failure_states)
        if not success:
            raise ValueError("success_states is empty: name at least one state, e.g. ('delivered',)")
        overlap = success & failure
        if overlap:
            names = ", ".join(sorted(s.value for s in overlap))
            raise ValueError(f"{names} is in both success_states and failure_states: keep it in one of them")
        if not 0.0 < float(min_success_fraction) <= 1.0:
            raise ValueError(
                f"min_success_fraction {min_success_fraction!r} must be above 0 and at most 1, e.g. 0.95"
            )
        return cls(success, failure, float(min_success_fraction))

    def is_success(self, state: MessageState) -> bool:
        if state in self.success_states:
            return True
        if state in self.failure_states or state.is_failure:
            return False
        return state.rank >= min(s.rank for s in self.success_states)

    def is_failure(self, state: MessageState) -> bool:
        return state in self.failure_states

    def is_settled(self, state: MessageState) -> bool:
        """No need to look at this message again."""
        return self.is_success(state) or self.is_failure(state)

    def required(self, total: int) -> int:
        """How many of ``total`` messages must succeed."""
        return min(total, max(1, math.ceil(self.min_success_fraction * total - 1e-9))) if total else 0

    def evaluate(
        self,
        message_ids: Iterable[str],
        observed: Mapping[str, Observation],
        unreached: Sequence[Observation] = (),
    ) -> Verdict:
        """Passed once enough messages succeeded; failed as soon as too many failed for that to happen.

        ``unreached`` are recipients the sender tried and did not reach (refused, or outcome unknown):
        they count in the total and as failures, so a share is a share of everyone the send was for.
        """
        ids = list(message_ids)
        failed: list[Observation] = list(unreached)
        pending: list[str] = []
        succeeded = 0
        for message_id in ids:
            obs = observed.get(message_id)
            if obs is None or not self.is_settled(obs.state):
                pending.append(message_id)
            elif self.is_failure(obs.state):
                failed.append(obs)
            else:
                succeeded += 1
        total = len(ids) + len(unreached)
        required = self.required(total)
        passed = succeeded >= required
        done = passed or len(failed) > total - required
        return Verdict(done, passed, failed, pending, succeeded, required)

    def on_timeout(
        self,
        message_ids: Iterable[str],
        observed: Mapping[str, Observation],
        pass_if_sent: bool,
        unreached: Sequence[Observation] = (),
    ) -> Verdict:
        """The final word when time is up. With ``pass_if_sent``, a message that reached ``sent``
        (and did not fail) counts as a success: MMS and Relay sends may never get a receipt."""
        verdict = self.evaluate(message_ids, observed, unreached)
        if verdict.passed or not pass_if_sent:
            return Verdict(True, verdict.passed, verdict.failed, verdict.pending, verdict.succeeded_count,
                           verdict.required, timed_out=True)  # fmt: skip
        sent = [
            i for i in verdict.pending
            if i in observed and observed[i].state.rank >= MessageState.SENT.rank
            and not observed[i].state.is_failure
        ]  # fmt: skip
        succeeded = verdict.succeeded_count + len(sent)
        still_pending = [i for i in verdict.pending if i not in set(sent)]
        return Verdict(True, succeeded >= verdict.required, verdict.failed, still_pending, succeeded,
                       verdict.required, timed_out=True)  # fmt: skip


NOT_SENT = "(not sent)"  # the message id of a recipient the send never reached


def _not_sent(to: str | None, code: str | None, reason: str) -> Observation:
    return Observation(NOT_SENT, MessageState.FAILED, "not sent", to, code, reason, reason)


def unreached_from_report(report: Mapping[str, Any] | None) -> list[Observation]:
    """The recipients a broadcast's report says it tried and did not reach (refused, or outcome
    unknown), as settled failures. The report names up to 100 of each; the rest are counted."""
    if not report:
        return []
    refused = list(report.get("failures") or [])
    unknown = list(report.get("unknown_recipients") or [])
    named = [_not_sent(f.get("to"), f.get("code"), str(f.get("error"))) for f in refused]
    named += [_not_sent(to, None, "outcome unknown: the request left and no answer came") for to in unknown]
    more_refused = max(int(report.get("failed") or 0) - len(refused), 0)
    more_unknown = max(int(report.get("unknown") or 0) - len(unknown), 0)
    # one shared entry per kind for those not named: a large broadcast costs a reference each
    return (
        named
        + [_not_sent(None, None, "refused (the broadcast's report counts it)")] * more_refused
        + [_not_sent(None, None, "outcome unknown (the broadcast's report counts it)")] * more_unknown
    )


def compact_report(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a gate needs of a broadcast's report (bounded: the examples and the counts)."""
    if not report:
        return None
    keys = ("failures", "unknown_recipients", "failed", "unknown")
    return {k: report.get(k) for k in keys} if report.get("failed") or report.get("unknown") else None


SUMMARY_LINES = 50  # failures named one per line in a gate's error; the rest are counted


def failure_summary(failed: list[Observation], total: int, required: int | None = None) -> str:
    lines = [f"{len(failed)} of {total} message(s) reached a failure state:"]
    if required is not None and required < total:
        lines[0] = (
            f"{len(failed)} of {total} message(s) reached a failure state, so fewer than the required "
            f"{required} can succeed:"
        )
    for obs in failed[:SUMMARY_LINES]:
        meaning = obs.error_meaning or obs.error_message or "no error code given"
        lines.append(f"  {obs.message_id} to {obs.recipient or '?'} is {obs.state.value}: {meaning}")
    if len(failed) > SUMMARY_LINES:
        lines.append(f"  ... and {len(failed) - SUMMARY_LINES} more (the XCom report lists them)")
    return "\n".join(lines)


class DeliveryTracker:
    """The running picture of a set of messages, shared by poke-mode sensors and their triggers.

    Call :meth:`pending` for the ids worth looking at, :meth:`update` with what was found, then
    :meth:`verdict`; :meth:`report` is the JSON-safe result (XCom or trigger event).
    """

    def __init__(
        self, message_ids: Iterable[str], gate: DeliveryGate, send_report: Mapping[str, Any] | None = None
    ) -> None:
        self.message_ids = list(dict.fromkeys(message_ids))
        self.gate = gate
        self.observed: dict[str, Observation] = {}
        self.unreached = unreached_from_report(send_report)  # a broadcast's rows it did not reach

    @property
    def total(self) -> int:
        """Everyone the gated send was for: the messages, and the recipients it did not reach."""
        return len(self.message_ids) + len(self.unreached)

    def pending(self) -> list[str]:
        return [
            i
            for i in self.message_ids
            if i not in self.observed or not self.gate.is_settled(self.observed[i].state)
        ]

    def update(self, found: Mapping[str, Observation]) -> None:
        self.observed.update(found)

    def verdict(self) -> Verdict:
        return self.gate.evaluate(self.message_ids, self.observed, self.unreached)

    def on_timeout(self, pass_if_sent: bool) -> Verdict:
        return self.gate.on_timeout(self.message_ids, self.observed, pass_if_sent, self.unreached)

    def report(self, verdict: Verdict | None = None) -> dict[str, Any]:
        """JSON-safe summary: counts per state, the failures with their codes, every message."""
        verdict = verdict or self.verdict()
        if not verdict.done:
            outcome = "waiting"
        elif verdict.passed:
            outcome = "passed_on_timeout" if verdict.timed_out else "passed"
        else:
            outcome = "timed_out" if verdict.timed_out else "failed"
        return {
            "outcome": outcome,
            "total": self.total,
            "required": verdict.required,
            "succeeded": verdict.succeeded_count,
            "counts": self.counts(),
            "failed": [{"id": o.message_id, **o.as_dict()} for o in verdict.failed],
            "not_reached": len(self.unreached),
            "messages": {i: self.observed[i].as_dict() for i in self.message_ids if i in self.observed},
        }

    def counts(self) -> dict[str, int]:
        """How many messages are in each state (``unknown``: nothing heard yet)."""
        counts: dict[str, int] = {}
        for i in self.message_ids:
            state = self.observed[i].state.value if i in self.observed else "unknown"
            counts[state] = counts.get(state, 0) + 1
        return dict(sorted(counts.items()))

    def timeout_summary(self, verdict: Verdict) -> str:
        return (
            f"Timed out: {verdict.succeeded_count} of {self.total} message(s) succeeded, "
            f"{verdict.required} needed; states {self.counts()}"
        )
