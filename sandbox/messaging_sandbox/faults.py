"""Injected faults: a share of requests answered 5xx or 429, and added latency.

An error or 429 is decided before a request is handled, so a faulted create stores nothing (as
when a real service sheds load at its front door). A *stall* is the nasty case: the request is
handled (a message is accepted) and the answer held back for ``stall_seconds``, so the client
times out not knowing that its message went out.
"""

from __future__ import annotations

import collections
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FaultKnobs:
    error_rate: float = 0.0  # share of API requests answered with error_status
    error_status: int = 500
    rate_limit_rate: float = 0.0  # share answered 429 with Retry-After
    retry_after: float = 1.0
    stall_rate: float = 0.0  # share handled normally but answered only after stall_seconds
    stall_seconds: float = 30.0
    latency_ms: float = 0.0
    # API requests taken in any second; more are answered 429, as a number over its throughput
    # (WhatsApp 130429, SignalWire 20429) would be. 0: no limit
    throughput: int = 0
    seed: int | None = None
    _random: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    _taken: collections.deque[float] = field(default_factory=collections.deque, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("error_rate", "rate_limit_rate", "stall_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if not 500 <= self.error_status <= 599:
            raise ValueError(f"error_status must be a 5xx code, got {self.error_status}")
        self._random = random.Random(self.seed)

    def draw(self) -> str | None:
        """``"error"``, ``"rate_limit"``, ``"stall"`` or ``None`` for the next request."""
        roll = self._random.random()
        if roll < self.error_rate:
            return "error"
        if roll < self.error_rate + self.rate_limit_rate:
            return "rate_limit"
        if roll < self.error_rate + self.rate_limit_rate + self.stall_rate:
            return "stall"
        if self.throughput > 0:
            now, taken = time.monotonic(), self._taken
            while taken and taken[0] <= now - 1.0:
                taken.popleft()
            if len(taken) >= self.throughput:
                return "rate_limit"
            taken.append(now)
        return None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_random", None)
        data.pop("_taken", None)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultKnobs:
        allowed = {k for k in cls.__dataclass_fields__ if not k.startswith("_")}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(
                f"unknown fault knob(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(allowed))}"
            )
        return cls(**data)
