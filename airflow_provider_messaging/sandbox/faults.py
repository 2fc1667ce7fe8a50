"""Injected faults: a share of requests answered 5xx or 429, and added latency.

A fault is decided before a request is handled, so a faulted create stores nothing (as when a
real service sheds load at its front door).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FaultKnobs:
    error_rate: float = 0.0  # share of API requests answered with error_status
    error_status: int = 500
    rate_limit_rate: float = 0.0  # share answered 429 with Retry-After
    retry_after: float = 1.0
    latency_ms: float = 0.0
    seed: int | None = None
    _random: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("error_rate", "rate_limit_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if not 500 <= self.error_status <= 599:
            raise ValueError(f"error_status must be a 5xx code, got {self.error_status}")
        self._random = random.Random(self.seed)

    def draw(self) -> str | None:
        """``"error"``, ``"rate_limit"`` or ``None`` for the next request."""
        roll = self._random.random()
        if roll < self.error_rate:
            return "error"
        if roll < self.error_rate + self.rate_limit_rate:
            return "rate_limit"
        return None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_random", None)
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
