"""Progress of work over many items (batch rows, extracted documents): done, rate, ETA.

Library code updates these totals; the CLI and the app draw them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["Throughput"]


@dataclass
class Throughput:
    """Items done of ``total``, and the rate of those done by this call."""

    total: int
    done: int = 0
    done_before: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def rows_per_min(self) -> float | None:
        """Items finished by this call per minute (those done before are not counted)."""
        done_now = self.done - self.done_before
        return 60 * done_now / self.elapsed_s if done_now and self.elapsed_s > 0 else None

    @property
    def eta_s(self) -> float | None:
        rate, left = self.rows_per_min, self.total - self.done
        return 0.0 if not left else (60 * left / rate if rate else None)
