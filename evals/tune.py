"""``minions tune``: evaluate a small space of plans on labelled questions, print and
write their cost-accuracy frontier, and save the profile ``auto`` cascades over.

::

    minions tune --dataset longhealth --split dev --sample 10 --out runs/tune
    minions tune --dataset my-questions.jsonl --plan "minions:max_rounds=1,num_samples_per_task=3"

A plan is a protocol and its options (:data:`DEFAULT_PLANS`: about six, from the local
model alone to the remote alone). Each runs as an eval (:func:`.runner.run_eval`) into
``OUT/<plan>/`` (resumable like any eval) with one pair of clients behind the response
cache, so plans that make the same calls (the same job on the same chunk) compute them
once; but each plan's **cost is its uncached cost** (the dollars its cache hits would
have cost are added back), so the frontier does not depend on the order plans ran.

``--split dev|test`` takes one half of the dataset's questions, split by a stable hash
of their ids (:func:`split_ids`), so tuning on dev and measuring on test never share a
question. The output: the table and the Pareto frontier printed, ``OUT/frontier.md``
and ``OUT/frontier.png``, and the profile (``--profile PATH``, by default the user's,
:func:`minions.profile.default_profile_path`) with every plan, the frontier, and each
frontier plan's model of P(correct | signals).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel, ConfigDict, Field
from rich.table import Table

from minions.api import DEFAULT_LOCAL, choose_remote
from minions.cli_help import examples
from minions.cli_options import (
    LocalOption,
    NoCacheOption,
    PriceAsOption,
    PrivacyOption,
    RemoteOption,
)
from minions.clients import Client, get_client
from minions.console import fail
from minions.console import table as console_table
from minions.errors import ConfigurationError, MinionsError
from minions.formatting import percent, usd
from minions.pricing import price
from minions.profile import (
    Outcome,
    PlanPoint,
    Profile,
    default_profile_path,
    fit_logistic,
    mark_frontier,
)
from minions.protocol import get_protocol, parse_option
from minions.run import Privacy

from .datasets import get_dataset, select_ids
from .runner import EvalRow, EvalSettings, run_eval

__all__ = ["DEFAULT_PLANS", "TunePlan", "TuneResult", "parse_plan", "split_ids", "tune_async"]

logger = logging.getLogger(__name__)

Split = Literal["all", "dev", "test"]


class TunePlan(BaseModel):
    """A protocol and its options, under a name (its folder)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[\w.-]+$")
    protocol: str
    options: dict[str, Any] = Field(default_factory=dict)


#: the search space: cheapest first
DEFAULT_PLANS = (
    TunePlan(name="local_only", protocol="local_only"),
    TunePlan(name="minion-1", protocol="minion", options={"max_rounds": 1}),
    TunePlan(name="minion-2", protocol="minion", options={"max_rounds": 2}),
    TunePlan(
        name="minions-json",
        protocol="minions",
        options={"plan": "json", "max_rounds": 1, "num_tasks_per_round": 2},
    ),
    TunePlan(
        name="minions-json-x3",
        protocol="minions",
        options={
            "plan": "json",
            "max_rounds": 1,
            "num_tasks_per_round": 2,
            "num_samples_per_task": 3,
        },
    ),
    TunePlan(name="remote_only", protocol="remote_only"),
)


def parse_plan(text: str) -> TunePlan:
    """``[name=]protocol[:key=value,...]``: ``minions:max_rounds=1,plan=json``."""
    name, sep, rest = text.partition("=")
    if not sep or ":" in name or "," in name:
        name, rest = "", text
    protocol, _, options_text = rest.partition(":")
    options = dict(parse_option(pair) for pair in options_text.split(",") if pair.strip())
    get_protocol(protocol.strip())(**options)  # an unknown protocol or option fails now
    label = name or "-".join([protocol.strip(), *(f"{k}{v}" for k, v in options.items())])
    return TunePlan(name=label.replace(" ", ""), protocol=protocol.strip(), options=options)


def split_ids(ids: Sequence[str], split: Split) -> list[str]:
    """The ids of one half: ``dev`` those whose SHA-256 starts with an even byte,
    ``test`` the others (stable across runs and machines)."""
    if split == "all":
        return list(ids)
    even = [hashlib.sha256(i.encode()).digest()[0] % 2 == 0 for i in ids]
    return [i for i, e in zip(ids, even, strict=True) if e == (split == "dev")]


class TuneResult(BaseModel):
    """The plans as measured, and where the profile went."""

    model_config = ConfigDict(extra="forbid")

    profile: Profile
    profile_path: Path
    report: Path


def _uncached_usd(row: EvalRow, spec: str) -> float:
    """The plan's remote dollars for this question as if nothing had been cached."""
    remote = row.usage.get("remote")
    if remote is None:
        return row.remote_usd or 0.0
    saved = price(remote.cache_hit_usage(), spec).usd or 0.0
    return (row.remote_usd or 0.0) + saved


def _point(plan: TunePlan, rows: Sequence[EvalRow], spec: str) -> PlanPoint:
    decided = [r for r in rows if r.score.correct is not None]
    outcomes = [
        Outcome(
            id=r.example_id,
            correct=bool(r.score.correct),
            usd=_uncached_usd(r, spec),
            signals=r.signals,
        )
        for r in decided
    ]
    n = len(outcomes)
    return PlanPoint(
        name=plan.name,
        protocol=plan.protocol,
        options=plan.options,
        n=n,
        accuracy=sum(o.correct for o in outcomes) / n if n else 0.0,
        usd=sum(o.usd for o in outcomes) / n if n else 0.0,
        weights=fit_logistic(outcomes),
        outcomes=outcomes,
    )


async def tune_async(
    dataset: str,
    *,
    out: str | Path,
    plans: Sequence[TunePlan] = DEFAULT_PLANS,
    split: Split = "all",
    data: str | None = None,
    context: str | None = None,
    sample: int | None = None,
    seed: int = 0,
    local: str | Client = DEFAULT_LOCAL,
    remote: str | Client | None = None,
    price_as: str | None = None,
    profile: str | Path | None = None,
    privacy: Privacy = "off",
    cache: bool = True,
    on_plan: Callable[[TunePlan, int, int], None] | None = None,
) -> TuneResult:
    """Evaluate ``plans`` (see the module); write the report and the profile."""
    out = Path(out)
    names = [p.name for p in plans]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"plan names must be distinct: {', '.join(names)}")
    remote, price_as, _ = choose_remote(remote, price_as)
    local_client = local if isinstance(local, Client) else get_client(local, cache=cache)
    remote_client = remote if isinstance(remote, Client) else get_client(remote, cache=cache)
    chosen = select_ids(get_dataset(dataset, data).catalog())
    ids = split_ids(chosen, split)
    if not ids:
        raise ConfigurationError(f"the {split} split of {dataset} holds no question")
    spec = price_as or remote_client.spec
    points = []
    for index, plan in enumerate(plans, 1):
        if on_plan is not None:
            on_plan(plan, index, len(plans))
        settings = EvalSettings(
            dataset=dataset,
            data=data,
            context=context,
            protocols=[plan.protocol],
            local=local_client.spec,
            remote=remote_client.spec,
            price_as=price_as,
            ids=ids,
            sample=sample,
            seed=seed,
            options={plan.protocol: plan.options} if plan.options else {},
            privacy=privacy,
        )
        rows = await run_eval(settings, out / plan.name, local=local_client, remote=remote_client)
        points.append(_point(plan, rows, spec))
    measured = Profile(
        dataset=dataset,
        local=local_client.spec,
        remote=remote_client.spec,
        price_as=price_as,
        plans=mark_frontier(points),
    )
    path = measured.save(profile or default_profile_path())
    report = _write_report(measured, out)
    return TuneResult(profile=measured, profile_path=path, report=report)


def frontier_table(profile: Profile) -> list[list[str]]:
    """Header and rows: every plan, the frontier marked, cheapest first; the last column
    is what the plan runs, so a narrow terminal wraps only that one."""
    rows = [["plan", "n", "accuracy", "remote $/q", "frontier", "runs"]]
    for p in sorted(profile.plans, key=lambda p: (p.usd, -p.accuracy)):
        options = ", ".join(f"{k}={v}" for k, v in p.options.items())
        rows.append(
            [
                p.name,
                str(p.n),
                percent(p.accuracy),
                usd(p.usd),
                "yes" if p.frontier else "",
                f"{p.protocol} ({options})" if options else p.protocol,
            ]
        )
    return rows


def frontier_console_table(profile: Profile, title: str) -> Table:
    """The frontier for a terminal: only what a plan runs wraps; names and figures stay
    whole, so two plans never print alike in 80 columns."""
    rows = frontier_table(profile)
    table = console_table(f"{title}; remote $ uncached")
    for header in rows[0]:
        wraps = header == "runs"
        table.add_column(header, no_wrap=not wraps, ratio=1 if wraps else None, overflow="fold")
    for row in rows[1:]:
        table.add_row(*row)
    return table


def models_line(profile: Profile) -> str:
    """The models of a profile's plans, and how their dollars are counted."""
    priced = f" priced as {profile.price_as}" if profile.price_as else ""
    return (
        f"Local {profile.local}, remote {profile.remote}{priced}. "
        "Remote dollars are each plan's own, uncached."
    )


def _write_report(profile: Profile, out: Path) -> Path:
    rows = frontier_table(profile)
    lines = [
        f"# Tuning on {profile.dataset}",
        "",
        models_line(profile),
        "",
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * len(rows[0]),
        *("| " + " | ".join(r) + " |" for r in rows[1:]),
        "",
    ]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "frontier.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        _plot(profile, out / "frontier.png")
    except ImportError:
        logger.warning("matplotlib is not installed: no frontier.png")
    return path


def _plot(profile: Profile, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for p in profile.plans:
        axes.scatter(p.usd, p.accuracy, color="C1" if p.frontier else "C7")
        axes.annotate(
            p.name, (p.usd, p.accuracy), fontsize=8, xytext=(4, 4), textcoords="offset points"
        )
    front = profile.frontier()
    axes.plot([p.usd for p in front], [p.accuracy for p in front], color="C1", linewidth=1)
    axes.set_xlabel("remote $ per question (uncached)")
    axes.set_ylabel("accuracy")
    axes.set_title(f"Plans on {profile.dataset}: the frontier in orange")
    figure.tight_layout()
    figure.savefig(path)


# --- the command ------------------------------------------------------------------------

TUNE_EXAMPLES = examples(
    "minions tune --dataset longhealth --split dev --sample 10 --out runs/tune",
    'minions tune -d questions.jsonl --plan "minion:max_rounds=1" --plan remote_only --out runs/t',
)


def tune_command(
    dataset: Annotated[
        str,
        typer.Option("--dataset", "-d", metavar="NAME|FILE", help="A dataset or a .jsonl file."),
    ],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder of the plans' evals.")],
    split: Annotated[
        Split, typer.Option(metavar="all|dev|test", help="Half of the questions (by id hash).")
    ] = "dev",
    plan: Annotated[
        list[str] | None,
        typer.Option(
            metavar="PLAN",
            help="[name=]protocol[:key=value,...] (repeatable); default: six plans from "
            "local_only to remote_only.",
        ),
    ] = None,
    sample: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="A seeded sample of the split.")
    ] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the sample.")] = 0,
    context: Annotated[
        str | None, typer.Option(metavar="HOW", help="The dataset's context mode (as in eval).")
    ] = None,
    data: Annotated[str | None, typer.Option(metavar="DIR", help="The dataset's files.")] = None,
    local: LocalOption = None,
    remote: RemoteOption = None,
    price_as: PriceAsOption = None,
    profile: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH", help=f"Where the profile goes (default {default_profile_path()})."
        ),
    ] = None,
    privacy: PrivacyOption = "off",
    no_cache: NoCacheOption = False,
) -> None:
    """Evaluate a few plans on labelled questions; print the cost-accuracy frontier and
    save the profile the `auto` protocol cascades over."""
    from rich.console import Console

    stderr = Console(stderr=True)
    try:
        plans = [parse_plan(p) for p in plan] if plan else list(DEFAULT_PLANS)

        def on_plan(p: TunePlan, index: int, total: int) -> None:
            stderr.print(f"[bold]plan {index}/{total}[/] {p.name}", highlight=False)

        result = asyncio.run(
            tune_async(
                dataset,
                out=out,
                plans=plans,
                split=split,
                data=data,
                context=context,
                sample=sample,
                seed=seed,
                local=local or DEFAULT_LOCAL,
                remote=remote,
                price_as=price_as,
                profile=profile,
                privacy=privacy,
                cache=not no_cache,
                on_plan=on_plan,
            )
        )
    except KeyboardInterrupt:
        stderr.print(f"[yellow]interrupted:[/] finished rows are kept in {out}; rerun to resume.")
        raise typer.Exit(130) from None
    except MinionsError as exc:
        fail(str(exc))
    console = Console()
    console.print(frontier_console_table(result.profile, f"plans on {dataset} ({split})"))
    console.print(f"profile: {result.profile_path}\nreport: {result.report}", highlight=False)


def register(cli: typer.Typer) -> None:
    """Add ``minions tune`` to the ``minions`` command."""
    cli.command("tune", epilog=TUNE_EXAMPLES)(tune_command)
