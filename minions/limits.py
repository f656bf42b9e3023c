"""Run-level limits: remote dollars, remote calls and wall time.

One :class:`Limits` value bounds a run of any protocol. :class:`~minions.run.Run`
checks it before every model call (as pydantic-ai's ``UsageLimits.check_before_request``
does) and bounds the whole protocol by the wall time; reaching a limit raises
:class:`~minions.errors.BudgetExceeded`, so the run ends with status "budget_exceeded"
and the best answer so far.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from minions.errors import BudgetExceeded
from minions.formatting import usd

_HOW_TO_RAISE = "raise {name} (--{flag} on the command line) to let the run go further"


class Limits(BaseModel):
    """How far a run may go; ``None`` is no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_remote_usd: float | None = Field(
        default=None,
        gt=0,
        description="stop before a remote call once remote spending reaches this many dollars",
    )
    max_remote_calls: int | None = Field(
        default=None,
        ge=0,
        description="remote calls the run may make (a call's retries are part of it)",
    )
    timeout_s: float | None = Field(
        default=None, gt=0, description="wall time of the whole run, in seconds"
    )

    def tighter(self, other: Limits | None) -> Limits:
        """Each limit as the lower of ``self``'s and ``other``'s."""
        if other is None:
            return self

        def lower(a: float | None, b: float | None) -> float | None:
            return b if a is None else a if b is None else min(a, b)

        return Limits.model_validate(
            {name: lower(getattr(self, name), getattr(other, name)) for name in Limits.model_fields}
        )

    def check_before_call(
        self, role: str, *, elapsed_s: float, remote_calls: int, remote_usd: float | None
    ) -> None:
        """Raise :class:`BudgetExceeded` when a call by ``role`` would go past a limit:
        the wall time before every call; remote calls and dollars before a remote one.
        ``remote_calls`` and ``remote_usd`` are what the run has made and spent so far."""
        self.check_time(elapsed_s)
        if role != "remote":
            return
        if self.max_remote_calls is not None and remote_calls >= self.max_remote_calls:
            raise BudgetExceeded(
                f"the run made {remote_calls} remote calls, its limit (max_remote_calls="
                f"{self.max_remote_calls}); "
                + _HOW_TO_RAISE.format(name="max_remote_calls", flag="max-remote-calls")
            )
        if self.max_remote_usd is not None and (remote_usd or 0.0) >= self.max_remote_usd:
            raise BudgetExceeded(
                f"remote spending reached {usd(remote_usd or 0.0)} of the "
                f"{usd(self.max_remote_usd)} budget (max_remote_usd); "
                + _HOW_TO_RAISE.format(name="max_remote_usd", flag="max-remote-usd")
            )

    def check_time(self, elapsed_s: float) -> None:
        """Raise :class:`BudgetExceeded` once ``elapsed_s`` reaches ``timeout_s``."""
        if self.timeout_s is not None and elapsed_s >= self.timeout_s:
            raise self.timed_out(elapsed_s)

    def timed_out(self, elapsed_s: float) -> BudgetExceeded:
        return BudgetExceeded(
            f"the run reached its wall-time limit after {elapsed_s:.1f} s (timeout_s="
            f"{self.timeout_s:g}); " + _HOW_TO_RAISE.format(name="timeout_s", flag="timeout")
        )
