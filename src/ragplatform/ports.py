"""Small async ports the domain depends on; adapters implement them per vendor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RateDecision:
    """The outcome of counting one hit against a rate."""

    allowed: bool
    retry_after_s: int
    remaining: int


class RateLimiter(Protocol):
    """Counts hits per key against a rate such as ``"600/minute"``."""

    async def hit(self, rate: str, *key: str) -> RateDecision:
        """Count one hit; ``allowed`` is False once the rate is exceeded."""
        ...

    async def peek(self, rate: str, *key: str) -> RateDecision:
        """Whether one more hit would be allowed, without counting it."""
        ...

    async def reset(self, rate: str, *key: str) -> None:
        """Forget the hits of ``key`` (e.g. after a successful login)."""
        ...

    async def ping(self) -> None:
        """Raise when the backing store is unreachable."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class JobQueue(Protocol):
    """Where new jobs are announced to workers (in-process runner, later Redis)."""

    def notify(self) -> None:
        """Wake a worker: a job was committed."""
        ...
