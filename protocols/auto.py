"""``auto``: a cascade over the tuned plans, cheapest first.

Each stage runs one plan (a protocol and its options) on the same run, so its calls,
rounds and dollars add up in one Result; it sees only its own rounds, as its plan did
when it was measured. After a stage, its confidence signals
(:mod:`.confidence`: agreement of the local answers, the share of jobs that
abstained, whether the quotes were found, whether the remote chose to answer) go
through that plan's model of P(correct | signals); the stage's answer is kept when
the probability reaches the cascade's threshold, else the next stage runs. The last
stage always answers. The Result's notes say which stage answered and why.

The stages (the frontier plans worth running, cheapest first), their models and the
threshold come from a profile written by ``minions tune`` (:mod:`minions.profile`;
``profile=`` a path, by default the user's profile), calibrated to ``target``
(``quality:0.95``: 95% of the best plan's accuracy at the least cost; ``usd:0.01``: the
best accuracy within a cent a question). Without a profile the cascade is
:data:`DEFAULT_CASCADE`, whose weights were set by hand, not measured, and the notes say
so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator

from minions.profile import (
    Cascade,
    Profile,
    Stage,
    Target,
    calibrate,
    default_profile_path,
    features,
    predict,
)
from minions.protocol import BASIC, Lesson, Protocol, ProtocolConfig, get_protocol
from minions.run import Run
from minions.types import Result, Round

from .confidence import signals
from .votes import answer_key

__all__ = ["DEFAULT_CASCADE", "Auto", "AutoConfig", "OnlinePolicy", "StageTrace"]

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

    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        title="Threshold",
        description="keep a stage's answer at this P(correct); not set: calibrated to the "
        "target on the profile",
    )

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        return str(Target.parse(value))


@dataclass
class StageTrace:
    """What one stage of a run did."""

    index: int
    name: str
    answer: str | None
    signals: dict[str, float]
    p: float
    kept: bool


async def _alone(run: Run, protocol: Protocol[Any]) -> list[Round]:
    """Run one stage as its plan ran when it was measured: it sees only its own rounds,
    numbered from 1, so its prompts (and its cache keys) are the plan's own. Its rounds
    then join the run's, numbered on."""
    earlier, run.rounds = run.rounds, []
    try:
        await protocol.answer(run)
    finally:
        mine, run.rounds = run.rounds, earlier
        for round_ in mine:
            round_.index += len(earlier)
        run.rounds.extend(mine)
    return mine


class Auto(Protocol[AutoConfig]):
    name = "auto"
    summary = "a cascade over the tuned plans: cheapest first, escalating when unsure"
    Config = AutoConfig

    def __init__(
        self, config: AutoConfig | None = None, *, cascade: Cascade | None = None, **options: Any
    ) -> None:
        super().__init__(config, **options)
        self._given = cascade
        #: the stages the last run went through
        self.trace: list[StageTrace] = []

    def cascade(self) -> tuple[Cascade, str]:
        """The cascade this run follows, and where it came from."""
        if self._given is not None:
            return self._given, "a policy learned as the batch goes"
        cascade, source = self._chosen()
        if self.config.threshold is None:
            return cascade, source
        fixed = cascade.model_copy(update={"threshold": self.config.threshold})
        return fixed, f"{source}; threshold {self.config.threshold:g} as set"

    def _chosen(self) -> tuple[Cascade, str]:
        path = self.config.profile or default_profile_path()
        if self.config.profile is None and not default_profile_path().exists():
            return DEFAULT_CASCADE, DEFAULT_CASCADE.why
        profile = Profile.load(path)
        cascade = calibrate(profile, self.config.target)
        return cascade, f"profile {path}, target {self.config.target}: {cascade.why}"

    async def answer(self, run: Run) -> None:
        cascade, source = self.cascade()
        names = ", ".join(s.name for s in cascade.stages)
        shape = (
            f"{len(cascade.stages)} stages ({names}), threshold {cascade.threshold:.2f}"
            if len(cascade.stages) > 1
            else f"1 stage ({names})"
        )
        run.note(f"auto: {shape}; {source}")
        for index, stage in enumerate(cascade.stages):
            run.answer, run.citations = None, []
            mine = await _alone(run, get_protocol(stage.protocol)(**stage.options))
            found = signals(mine, run.answer)
            keep, p = cascade.keeps(index, found.model_dump())
            self.trace.append(
                StageTrace(index, stage.name, run.answer, found.model_dump(), p, keep)
            )
            shown = ", ".join(f"{k} {v:.2f}" for k, v in found.model_dump().items())
            if keep:
                last = index == len(cascade.stages) - 1
                reason = (
                    f"the last stage always answers; P(correct) {p:.2f}"
                    if last
                    else f"P(correct) {p:.2f} >= {cascade.threshold:.2f}"
                )
                run.note(f"auto: stage {index + 1} ({stage.name}) answered: {reason} ({shown})")
                return
            run.note(
                f"auto: stage {index + 1} ({stage.name}) escalated: P(correct) {p:.2f} < "
                f"{cascade.threshold:.2f} ({shown})"
            )

    def learner(self) -> OnlinePolicy:
        return OnlinePolicy(self.cascade()[0])


class OnlinePolicy:
    """The cascade's stage models learning from a teacher, the last (most accurate)
    stage: on a taught row each stage that ran gets one gradient step of its logistic
    model towards whether its answer agreed with the teacher's (the same answer once
    normalised, :func:`.votes.answer_key`). The threshold stays as calibrated."""

    def __init__(self, cascade: Cascade, rate: float = 0.5) -> None:
        self.cascade = cascade.model_copy(deep=True)
        self.rate = rate
        last = self.cascade.stages[-1]
        self.teacher: Protocol[Any] = get_protocol(last.protocol)(**last.options)

    def student(self) -> Auto:
        return Auto(cascade=self.cascade)

    def route(self, student: Protocol[Any]) -> tuple[str | None, int]:
        trace = student.trace if isinstance(student, Auto) else []
        return (trace[-1].name if trace else None), max(0, len(trace) - 1)

    def learn(self, student: Protocol[Any], result: Result, teacher: Result) -> Lesson:
        truth = answer_key(teacher.answer or "")
        trace = student.trace if isinstance(student, Auto) else []
        for step in trace:
            stage = self.cascade.stages[step.index]
            label = float(bool(truth) and answer_key(step.answer or "") == truth)
            error = label - predict(stage.weights, step.signals)
            x = features(step.signals)
            stage.weights = [
                w + self.rate * error * xi for w, xi in zip(stage.weights, x, strict=True)
            ]
        agrees = bool(truth) and answer_key(result.answer or "") == truth
        return Lesson(agrees=agrees, teacher_answer=teacher.answer, updated=len(trace))
