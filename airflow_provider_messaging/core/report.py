"""What a run of the send engine did, row by row accounted for: the XCom and the closing log line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import SendResult
    from .errors import MessagingError

EXAMPLES = 100  # rows listed by name per category; the counts are always complete


@dataclass
class SendReport:
    rows: int = 0
    accepted: int = 0
    already_sent: int = 0  # accepted by an earlier try of the task
    duplicates: int = 0  # the same recipient and content again in this try: not sent twice
    invalid: int = 0
    failed: int = 0
    unknown: int = 0
    reconciled: int = 0  # outcomes first unknown, then found at the service (counted in accepted)
    retryable_failed: int = 0
    not_attempted: int = 0  # rows left unsent by a stop: an error that hits every send, a timeout, a kill
    failed_by_code: Counter[str] = field(default_factory=Counter)
    invalid_rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    unknown_recipients: list[str] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    results: list[SendResult] | None = None  # every accepted send, when asked for (small sends)
    errors: list[MessagingError] | None = None  # every refusal, kept along with the results
    requests: int = 0  # send requests made, retries included
    rate_limited: int = 0  # answers asking us to slow down
    elapsed: float = 0.0

    @property
    def processed(self) -> int:
        return self.accepted + self.already_sent + self.duplicates + self.invalid + self.failed + self.unknown

    def add_accepted(self, result: SendResult) -> None:
        self.accepted += 1
        self.message_ids.append(result.message_id)
        if self.results is not None:
            self.results.append(result)

    def add_already_sent(self, message_id: str | None) -> None:
        self.already_sent += 1
        if message_id:
            self.message_ids.append(message_id)

    def add_invalid(self, row: int, to: Any, problem: str) -> None:
        self.invalid += 1
        if len(self.invalid_rows) < EXAMPLES:
            self.invalid_rows.append(
                {"row": row, "to": None if to is None else str(to)[:64], "error": problem}
            )

    def add_failed(self, to: str, error: MessagingError) -> None:
        self.failed += 1
        self.retryable_failed += int(error.retryable)
        self.failed_by_code[error.code or "none"] += 1
        if len(self.failures) < EXAMPLES:
            self.failures.append(
                {"to": to, "code": error.code, "error": str(error)[:300], "retryable": error.retryable}
            )
        if self.errors is not None:
            self.errors.append(error)

    def add_unknown(self, to: str) -> None:
        self.unknown += 1
        if len(self.unknown_recipients) < EXAMPLES:
            self.unknown_recipients.append(to)

    def add_reconciled(self, result: SendResult) -> None:
        """A send whose answer was lost turned out to have been accepted."""
        self.unknown -= 1
        self.reconciled += 1
        if result.to in self.unknown_recipients:
            self.unknown_recipients.remove(result.to)
        self.add_accepted(result)

    def summary(self) -> str:
        parts = [
            f"{self.rows} row(s)",
            f"{self.accepted} accepted",
            f"{self.already_sent} already sent",
            f"{self.duplicates} duplicate row(s)",
            f"{self.invalid} invalid",
            f"{self.failed} failed",
            f"{self.unknown} outcome unknown"
            + (f" ({self.reconciled} more were found at the service: accepted)" if self.reconciled else ""),
        ]
        if self.not_attempted:
            parts.append(f"{self.not_attempted} not attempted")
        rate = self.accepted / self.elapsed if self.elapsed > 0 else 0.0
        return ", ".join(parts) + f" in {self.elapsed:.1f} s ({rate:.1f} msg/s accepted)"

    def as_xcom(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "accepted": self.accepted,
            "already_sent": self.already_sent,
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "failed": self.failed,
            "unknown": self.unknown,
            "reconciled": self.reconciled,
            "not_attempted": self.not_attempted,
            "failed_by_code": dict(self.failed_by_code),
            "invalid_rows": self.invalid_rows,
            "failures": self.failures,
            "unknown_recipients": self.unknown_recipients,
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "elapsed_seconds": round(self.elapsed, 3),
        }


def merge_reports(reports: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """One report for the shards of a broadcast (each map index pushed its own): counts added up,
    examples kept up to :data:`EXAMPLES` per category."""
    merged: dict[str, Any] = {}
    reports = list(reports)
    for report in reports:
        for key, value in (report or {}).items():
            if isinstance(value, bool):
                continue
            if isinstance(value, (int, float)):
                merged[key] = merged.get(key, 0) + value
            elif isinstance(value, list):
                kept = merged.setdefault(key, [])
                kept.extend(value[: max(EXAMPLES - len(kept), 0)])
            elif isinstance(value, Mapping):  # failed_by_code
                counts = merged.setdefault(key, {})
                for code, n in value.items():
                    counts[code] = counts.get(code, 0) + n
    if "elapsed_seconds" in merged:  # shards run side by side: the longest one is the broadcast's
        merged["elapsed_seconds"] = max(float((r or {}).get("elapsed_seconds") or 0) for r in reports)
    return merged
