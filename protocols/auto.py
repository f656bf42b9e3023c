"""``auto``: a cascade over the tuned plans, cheapest first.

Each stage runs one plan (a protocol and its options) on the same run, so its calls,
rounds and dollars add up in one Result. After a stage, its confidence signals
(:mod:`.confidence`: agreement of the local answers, the share of jobs that
abstained, whether the quotes were found, whether the remote chose to answer) go
through that plan's model of P(correct | signals); the stage's answer is kept when
the probability reaches the cascade's threshold, else the next stage runs. The last
stage always answers. The Result's notes say which stage answered and why.

The stages, their models and the threshold come from a profile written by
``minions tune`` (:mod:`minions.profile`; ``profile=`` a path, by default the user's
profile), calibrated to ``target`` (``quality:0.95``: 95% of the best plan's accuracy
at the least cost; ``usd:0.01``: the best accuracy within a cent a question). Without a
profile the cascade is :data:`DEFAULT_CASCADE`, whose weights were set by hand, not
measured, and the notes say so.
"""

from __future__ import annotations

import logging

from pydantic import Field, field_validator

from minions.profile import Cascade, Profile, Stage, Target, calibrate, default_profile_path
from minions.protocol import BASIC, Protocol, ProtocolConfig, get_protocol
from minions.run import Run

from .confidence import signals

__all__ = ["DEFAULT_CASCADE", "Auto", "AutoConfig"]

logger = logging.getLogger(__name__)

#: the cascade without a profile: a stage answers when its quotes were found and its
#: answers agree (the weights say so: bias, agreement, abstained, verified,
#: remote_sure, answered); set by hand, not measured
DEFAULT_CASCADE = Cascade(
    stages=[
        Stage(
            name="minion",
            protocol="minion",
            options={"max_rounds": 2},
            weights=[-4.0, 1.0, 0.0, 2.5, 0.5, 1.5],
        ),
        Stage(
            name="minions",
            protocol="minions",
            options={"max_rounds": 1, "num_samples_per_task": 3},
            weights=[-4.0, 2.5, -1.0, 2.0, 0.0, 1.5],
        ),
        Stage(name="remote_only", protocol="remote_only", weights=[0.0] * 6),
    ],
    threshold=0.5,
    why="the default cascade (no profile: run `minions tune` to measure one)",
)


class AutoConfig(ProtocolConfig):
    profile: str | None = Field(
        default=None,
        title="Profile",
        description="the `minions tune` profile to cascade over; not set: the user's "
        "profile if there is one, else the default cascade",
    )
    target: str = Field(
        default="quality:0.95",
        title="Target",
        description="quality:Q (Q x the best plan's accuracy, at the least cost) or usd:X "
        "(remote dollars a question, the best accuracy within them)",
        json_schema_extra=BASIC,
    )

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        return str(Target.parse(value))


class Auto(Protocol[AutoConfig]):
    name = "auto"
    summary = "a cascade over the tuned plans: cheapest first, escalating when unsure"
    Config = AutoConfig

    def cascade(self) -> tuple[Cascade, str]:
        """The cascade this run follows, and where it came from."""
        path = self.config.profile or default_profile_path()
        if self.config.profile is None and not default_profile_path().exists():
            return DEFAULT_CASCADE, DEFAULT_CASCADE.why
        profile = Profile.load(path)
        cascade = calibrate(profile, self.config.target)
        return cascade, f"profile {path}, target {self.config.target}: {cascade.why}"

    async def answer(self, run: Run) -> None:
        cascade, source = self.cascade()
        run.note(
            f"auto: {len(cascade.stages)} stages ({', '.join(s.name for s in cascade.stages)}), "
            f"threshold {cascade.threshold:.2f}; {source}"
        )
        for index, stage in enumerate(cascade.stages):
            before = len(run.rounds)
            run.answer, run.citations = None, []
            await get_protocol(stage.protocol)(**stage.options).answer(run)
            found = signals(run.rounds[before:], run.answer)
            keep, p = cascade.keeps(index, found.model_dump())
            shown = ", ".join(f"{k} {v:.2f}" for k, v in found.model_dump().items())
            if keep:
                last = index == len(cascade.stages) - 1
                reason = (
                    "the last stage always answers"
                    if last and p < cascade.threshold
                    else f"P(correct) {p:.2f} >= {cascade.threshold:.2f}"
                )
                run.note(f"auto: stage {index + 1} ({stage.name}) answered: {reason} ({shown})")
                return
            run.note(
                f"auto: stage {index + 1} ({stage.name}) escalated: P(correct) {p:.2f} < "
                f"{cascade.threshold:.2f} ({shown})"
            )
