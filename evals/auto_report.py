"""The report of ``evals/run_auto.sh``: ``auto`` against the frontier on held-out questions.

``python -m minions.evals.auto_report DIR`` reads two ``minions tune`` runs in DIR:

- ``profile.json``: the plans measured on the dev questions, the frontier marked (what
  ``auto`` cascades over and calibrates on);
- ``test-profile.json``: the dev frontier's plans and ``auto`` measured again on other
  (test) questions,

and writes ``DIR/report.md``: the dev frontier; per plan on test its accuracy with a 95%
bootstrap interval and its uncached remote dollars per question; and each ``auto`` plan
against the plans next to it in cost (the dearest that costs no more than it and the
cheapest that costs more; a test plan off the dev frontier, such as remote_only run as a
reference, is marked so): the paired difference in accuracy on the same questions,
with its bootstrap interval, next to both plans' dollars. ``DIR/test/frontier.png`` is the
plot.

``python -m minions.evals.auto_report --plans PROFILE`` prints the frontier plans of a
profile as ``--plan`` values of ``minions tune``, one a line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from minions.errors import MinionsError
from minions.formatting import percent, usd
from minions.profile import PlanPoint, Profile

from .report import bootstrap_ci, interval, paired_difference_ci, paired_outcomes
from .tune import models_line

AUTO = "auto"


def plan_arg(plan: PlanPoint) -> str:
    """``name=protocol:key=value,...``, as ``minions tune --plan`` reads it."""
    options = ",".join(f"{k}={v}" for k, v in plan.options.items())
    return f"{plan.name}={plan.protocol}" + (f":{options}" if options else "")


def _paired(auto: PlanPoint, other: PlanPoint) -> tuple[list[bool], list[bool]]:
    """The two plans' outcomes on the questions both decided, in one order."""
    return paired_outcomes(
        {o.id: o.correct for o in auto.outcomes}, {o.id: o.correct for o in other.outcomes}
    )


def neighbours(auto: PlanPoint, plans: Sequence[PlanPoint]) -> list[PlanPoint]:
    """The dearest plan that costs no more than ``auto`` and the cheapest that costs
    more (on the same questions), whichever exist."""
    cheaper = [p for p in plans if p.usd <= auto.usd]
    dearer = [p for p in plans if p.usd > auto.usd]
    chosen = []
    if cheaper:
        chosen.append(max(cheaper, key=lambda p: (p.usd, p.accuracy)))
    if dearer:
        chosen.append(min(dearer, key=lambda p: (p.usd, -p.accuracy)))
    return chosen


def _plan_table(plans: Sequence[PlanPoint], frontier: set[str] | None = None) -> list[str]:
    """A row a plan, cheapest first: accuracy with its bootstrap interval, $/question;
    with ``frontier``, a column marking its plans; ``auto`` in bold."""
    extra = " frontier |" if frontier is not None else ""
    lines = [
        "| plan | n | accuracy (95% CI) | remote $/q |" + extra,
        "|---|---:|---|---:|" + ("---|" if frontier is not None else ""),
    ]
    for p in sorted(plans, key=lambda p: (p.usd, -p.accuracy)):
        ci = bootstrap_ci([o.correct for o in p.outcomes])
        name = f"**{p.name}**" if p.protocol == AUTO else p.name
        mark = f" {'yes' if p.name in frontier else ''} |" if frontier is not None else ""
        lines.append(
            f"| {name} | {p.n} | {percent(p.accuracy)} ({interval(ci)}) | {usd(p.usd)} |" + mark
        )
    return lines


def report(dev: Profile, test: Profile) -> str:
    lines = [
        f"# `auto` on {dev.dataset}: tuned on dev, measured on test",
        "",
        models_line(dev),
        "",
        f"## The frontier on {max((p.n for p in dev.plans), default=0)} dev questions",
        "",
        *_plan_table(dev.plans, {p.name for p in dev.frontier()}),
        "",
        f"## On {max((p.n for p in test.plans), default=0)} test questions",
        "",
        *_plan_table(test.plans),
    ]
    autos = [p for p in test.plans if p.protocol == AUTO]
    others = [p for p in test.plans if p.protocol != AUTO]
    if not autos:
        lines += ["", "No `auto` plan in the test run."]
    frontier = {p.name for p in dev.frontier()}
    for auto in autos:
        target = auto.options.get("target", "the default target")
        lines += [
            "",
            f"## `{auto.name}` ({target}) against the plans next to it in cost",
            "",
            f"| plan | its $/q | {auto.name} $/q | accuracy: {auto.name} - plan (95% CI, paired) |",
            "|---|---:|---:|---|",
        ]
        for p in neighbours(auto, others):
            mine, theirs = _paired(auto, p)
            name = (
                p.name if p.name in frontier else f"{p.name} (a reference, not on the dev frontier)"
            )
            diff = (sum(mine) - sum(theirs)) / len(mine) if mine else 0.0
            ci = paired_difference_ci(mine, theirs)
            lines.append(
                f"| {name} | {usd(p.usd)} | {usd(auto.usd)} | {diff * 100:+.1f} pts "
                f"({interval(ci, signed=True)}; {len(mine)} questions) |"
            )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    try:
        return _main(argv)
    except MinionsError as exc:  # a missing or unreadable profile: say so, in one line
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _main(argv: Sequence[str]) -> int:
    if len(argv) == 2 and argv[0] == "--plans":
        for plan in Profile.load(Path(argv[1])).frontier():
            print(plan_arg(plan))
        return 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(argv[0])
    text = report(Profile.load(folder / "profile.json"), Profile.load(folder / "test-profile.json"))
    (folder / "report.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
