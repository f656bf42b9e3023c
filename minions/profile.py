"""A tuning profile: measured plans, their cost-accuracy frontier, and the cascade the
``auto`` protocol runs over it.

``minions tune`` writes a :class:`Profile` (JSON): every plan it evaluated (a protocol
and its options) with its accuracy and mean uncached remote dollars per question on a
labelled dev split, which plans are on the Pareto frontier, and per plan the outcome of
each question (correct or not, dollars, the run's confidence signals,
:mod:`minions.protocols.confidence`). From those outcomes each frontier plan gets a
small logistic model, P(correct | signals) (:func:`fit_logistic`).

:func:`calibrate` turns a profile and a user's target into a :class:`Cascade`: some of
the frontier plans, cheapest first, and one threshold on the predicted probability at
which a stage's answer is kept (the last stage always answers). The stages and the
threshold are those that, replayed on the dev outcomes (every plan ran on every dev
question, so the replay is exact there), meet the target at the least cost. Every
subset of the frontier is a candidate, a single plan included: a stage that rarely
answers only adds its cost to every question that escalates past it, and is left out.

- ``quality:Q``: accuracy at least Q times the best plan's (``quality:0.95``), cheapest;
- ``usd:X``: mean remote dollars per question at most X (``usd:0.01``), most accurate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from minions.errors import ConfigurationError

__all__ = [
    "Cascade",
    "Outcome",
    "PlanPoint",
    "Profile",
    "Stage",
    "Target",
    "calibrate",
    "default_profile_path",
    "features",
    "fit_logistic",
    "mark_frontier",
    "predict",
]

#: the signals' names, in the order of the logistic model's weights (after the bias)
FEATURES = ("agreement", "abstained", "verified", "remote_sure", "answered")
_TARGET = re.compile(r"^(quality|usd):([0-9]*\.?[0-9]+)$")


class Outcome(BaseModel):
    """One dev question under one plan."""

    model_config = ConfigDict(extra="forbid")

    id: str
    correct: bool
    usd: float = Field(description="uncached remote dollars")
    signals: dict[str, float] = Field(default_factory=dict)


class PlanPoint(BaseModel):
    """One evaluated plan."""

    model_config = ConfigDict(extra="forbid")

    name: str
    protocol: str
    options: dict[str, Any] = Field(default_factory=dict)
    n: int = 0
    accuracy: float = 0.0
    usd: float = Field(default=0.0, description="mean uncached remote dollars per question")
    frontier: bool = False
    weights: list[float] | None = Field(
        default=None, description="P(correct | signals): bias, then one weight per feature"
    )
    outcomes: list[Outcome] = Field(default_factory=list)


class Profile(BaseModel):
    """What ``minions tune`` measured (see the module)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str
    local: str
    remote: str
    price_as: str | None = None
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    plans: list[PlanPoint]

    def frontier(self) -> list[PlanPoint]:
        """The frontier plans, cheapest first."""
        return sorted((p for p in self.plans if p.frontier), key=lambda p: (p.usd, -p.accuracy))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        try:
            return cls.model_validate_json(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot read the profile {path}: {exc}; run `minions tune` to write one"
            ) from None


def default_profile_path() -> Path:
    """Where ``minions tune`` writes the profile and ``auto`` looks for it:
    ``$MINIONS_PROFILE``, or ``profile.json`` in the user's data directory."""
    import os

    configured = os.environ.get("MINIONS_PROFILE")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("minions")) / "profile.json"


def mark_frontier(plans: Sequence[PlanPoint]) -> list[PlanPoint]:
    """``plans`` with ``frontier`` set: no other plan is at most as costly and at least
    as accurate, and strictly better at one of the two."""

    def dominated(p: PlanPoint) -> bool:
        return any(
            q is not p
            and q.usd <= p.usd
            and q.accuracy >= p.accuracy
            and (q.usd < p.usd or q.accuracy > p.accuracy)
            for q in plans
        )

    return [p.model_copy(update={"frontier": not dominated(p)}) for p in plans]


def features(signals: dict[str, float]) -> list[float]:
    return [1.0, *(float(signals.get(name, 0.0)) for name in FEATURES)]


def predict(weights: Sequence[float], signals: dict[str, float]) -> float:
    """P(correct | signals) under ``weights``."""
    z = sum(w * x for w, x in zip(weights, features(signals), strict=True))
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def fit_logistic(
    outcomes: Sequence[Outcome], *, l2: float = 0.01, steps: int = 2000, rate: float = 0.5
) -> list[float]:
    """Weights of P(correct | signals) by gradient descent on the log loss with an L2
    penalty (not on the bias): small data, so a small, regularised model."""
    weights = [0.0] * (len(FEATURES) + 1)
    if not outcomes:
        return weights
    rows = [(features(o.signals), 1.0 if o.correct else 0.0) for o in outcomes]
    for _ in range(steps):
        grad = [0.0] * len(weights)
        for x, y in rows:
            error = predict(weights, dict(zip(FEATURES, x[1:], strict=True))) - y
            for i, xi in enumerate(x):
                grad[i] += error * xi / len(rows)
        for i in range(len(weights)):
            penalty = l2 * weights[i] if i else 0.0
            weights[i] -= rate * (grad[i] + penalty)
    return [round(w, 4) for w in weights]


class Target(BaseModel):
    """What the user wants of the cascade."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Target:
        match = _TARGET.match(text.strip())
        if not match:
            raise ConfigurationError(
                f"target {text!r}: write quality:Q (a share of the best plan's accuracy, "
                "e.g. quality:0.95) or usd:X (remote dollars per question, e.g. usd:0.01)"
            )
        return cls(kind=match[1], value=float(match[2]))

    def __str__(self) -> str:
        return f"{self.kind}:{self.value:g}"


class Stage(BaseModel):
    """One stage of a cascade: a plan and its model of P(correct | signals)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    protocol: str
    options: dict[str, Any] = Field(default_factory=dict)
    weights: list[float]


class Cascade(BaseModel):
    """Stages cheapest first, and the probability at which a stage's answer is kept."""

    model_config = ConfigDict(extra="forbid")

    stages: list[Stage]
    threshold: float
    why: str = Field(description="how the threshold was chosen")
    dev_accuracy: float | None = None
    dev_usd: float | None = None

    def keeps(self, index: int, signals: dict[str, float]) -> tuple[bool, float]:
        """Whether stage ``index`` answers, and its predicted probability."""
        p = predict(self.stages[index].weights, signals)
        return index == len(self.stages) - 1 or p >= self.threshold, p


def _weights(plan: PlanPoint) -> list[float]:
    """A plan's model of P(correct | signals), or a flat one (0.5 whatever the signals)
    when it has none."""
    return plan.weights or [0.0] * (len(FEATURES) + 1)


def _replay(
    stages: Sequence[PlanPoint], threshold: float, ids: Sequence[str]
) -> tuple[float, float]:
    """Accuracy and mean dollars of the cascade on the dev questions ``ids``."""
    by_plan = [{o.id: o for o in s.outcomes} for s in stages]
    correct = spent = 0.0
    for qid in ids:
        for i, stage in enumerate(stages):
            outcome = by_plan[i][qid]
            spent += outcome.usd
            p = predict(_weights(stage), outcome.signals)
            if i == len(stages) - 1 or p >= threshold:
                correct += outcome.correct
                break
    return correct / len(ids), spent / len(ids)


def _subsets(stages: Sequence[PlanPoint]) -> list[list[PlanPoint]]:
    """Every non-empty subset of ``stages``, each in the given (cheapest first) order."""
    return [
        [s for i, s in enumerate(stages) if mask >> i & 1] for mask in range(1, 2 ** len(stages))
    ]


def _thresholds(stages: Sequence[PlanPoint]) -> list[float]:
    """The thresholds that replay differently: every predicted probability on dev, and
    one below and one above them all."""
    return sorted(
        {0.0, 1.01} | {predict(_weights(s), o.signals) for s in stages[:-1] for o in s.outcomes}
    )


def calibrate(profile: Profile, target: Target | str) -> Cascade:
    """The cascade over ``profile``'s frontier that meets ``target`` (see the module)."""
    target = Target.parse(target) if isinstance(target, str) else target
    stages = profile.frontier()
    if not stages:
        raise ConfigurationError("the profile has no frontier plan; run `minions tune` again")
    ids = sorted(set.intersection(*({o.id for o in s.outcomes} for s in stages)))
    if not ids:
        raise ConfigurationError("the profile's frontier plans share no dev question")
    best = max(p.accuracy for p in profile.plans)
    replays = [
        (threshold, *_replay(subset, threshold, ids), subset)
        for subset in _subsets(stages)
        for threshold in _thresholds(subset)
    ]
    if target.kind == "quality":
        wanted = target.value * best
        meeting = [r for r in replays if r[1] >= wanted - 1e-9]
        chosen = (
            min(meeting, key=lambda r: (r[2], -r[1], len(r[3])))
            if meeting
            else max(replays, key=lambda r: (r[1], -r[2]))
        )
        why = (
            f"the cheapest stages and threshold whose dev accuracy is at least "
            f"{target.value:g} x the best plan's {best:.0%}"
            if meeting
            else "no cascade met the target: the most accurate"
        )
    else:
        meeting = [r for r in replays if r[2] <= target.value + 1e-12]
        chosen = (
            max(meeting, key=lambda r: (r[1], -r[2], -len(r[3])))
            if meeting
            else min(replays, key=lambda r: r[2])
        )
        why = (
            f"the most accurate stages and threshold within ${target.value:g} a question on dev"
            if meeting
            else "no cascade kept within the budget on dev: the cheapest"
        )
    threshold, accuracy, usd, chosen_stages = chosen
    return Cascade(
        stages=[
            Stage(
                name=s.name,
                protocol=s.protocol,
                options=s.options,
                weights=_weights(s),
            )
            for s in chosen_stages
        ],
        threshold=threshold,
        why=why,
        dev_accuracy=accuracy,
        dev_usd=usd,
    )
