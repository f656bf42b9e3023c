"""The protocol abstraction and its registry.

A protocol is a strategy for answering a task over documents with a local and a
remote model. It implements one coroutine, :meth:`Protocol.answer`, and declares its
options as a pydantic ``Config`` (unknown options are errors); ``Protocol`` is generic
in it, so ``self.config`` is typed::

    class MyConfig(ProtocolConfig):
        max_rounds: int = 2

    class MyProtocol(Protocol[MyConfig]):
        Config = MyConfig            # self.config is a MyConfig

Protocols register under
the entry-point group ``minions.protocols``; the built-ins use the same mechanism, so a
protocol in another package is a first-class citizen::

    [project.entry-points."minions.protocols"]
    my_protocol = "mypackage.proto:MyProtocol"
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar, cast
from typing import Protocol as Interface

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from minions.clients import Client
from minions.documents import Document
from minions.errors import ConfigurationError
from minions.events import Events, Sink
from minions.limits import Limits
from minions.plugins import load, registered
from minions.run import Privacy, Run
from minions.types import Result

GROUP = "minions.protocols"


#: ``Field(json_schema_extra=BASIC)`` marks one of the few options most people change:
#: the app shows those first and the rest under "Advanced options"
BASIC: dict[str, Any] = {"basic": True}


class ProtocolConfig(BaseModel):
    """Base of every protocol's options: unknown options are errors.

    Each option's ``title`` is its label in the app, its ``description`` the help there
    and in ``minions protocols``; say what a blank (``None``) value means. Mark the
    options most people change with ``json_schema_extra=BASIC``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    def run_limits(self) -> Limits:
        """Run-level limits these options set (none here); a run applies the tighter
        of them and the caller's ``limits``."""
        return Limits()


ConfigT = TypeVar("ConfigT", bound=ProtocolConfig)
ModelT = TypeVar("ModelT", bound=BaseModel)


class Protocol(ABC, Generic[ConfigT]):
    """A strategy for local-remote collaboration, generic in its options."""

    name: ClassVar[str]
    #: the options' model, set by each subclass; a protocol without options keeps this
    Config: type[ConfigT] = cast("type[ConfigT]", ProtocolConfig)
    #: one line for listings
    summary: ClassVar[str] = ""

    def __init__(self, config: ConfigT | None = None, **options: Any) -> None:
        if config is not None and options:
            raise ConfigurationError("pass either a config object or options, not both")
        if config is None:
            config = make_config(self.Config, options, self.name)
        elif not isinstance(config, self.Config):
            raise ConfigurationError(
                f"{self.name} expects a {self.Config.__name__}, got {type(config).__name__}"
            )
        self.config = config

    async def run(
        self,
        task: str,
        documents: Sequence[Document],
        *,
        local: Client,
        remote: Client,
        events: Events | Sink | None = None,
        price_as: str | None = None,
        limits: Limits | None = None,
        privacy: Privacy = "off",
    ) -> Result:
        """Answer ``task`` over ``documents``. ``price_as`` prices remote usage as if
        it had run on another model (``provider:model``). ``limits`` bound the run
        (remote dollars, remote calls, wall time), together with any the protocol's
        options set (:meth:`ProtocolConfig.run_limits`; the tighter wins).
        ``privacy="strict"`` sends sensitive values to the remote as placeholders
        (:mod:`minions.shield`)."""
        run = Run(
            self,
            task,
            documents,
            local=local,
            remote=remote,
            events=events,
            price_as=price_as,
            limits=self.config.run_limits().tighter(limits),
            privacy=privacy,
        )
        return await run.execute(self.answer(run))

    def learner(self) -> Learner | None:
        """What learns from a teacher as a batch goes (``--teach``), for a protocol
        that can; None for the others."""
        return None

    @abstractmethod
    async def answer(self, run: Run) -> None:
        """The protocol's work: make every model call through ``run.call`` or
        ``run.call_json`` (metered, recorded, limited), open rounds with
        ``run.new_round()``, and set ``run.answer`` (and ``run.citations``)."""


class Lesson(BaseModel):
    """What one taught row told a learner."""

    model_config = ConfigDict(extra="forbid")

    agrees: bool = Field(description="the learner's answer agrees with the teacher's")
    teacher_answer: str | None = None
    updated: int = Field(default=0, description="stage models updated")


class Learner(Interface):
    """A protocol whose decisions are learned online from a teacher (``minions batch
    --teach``): :meth:`student` runs a row with the policy as it is now; on a sampled
    row :attr:`teacher` runs too and :meth:`learn` updates the policy from the two."""

    teacher: Protocol[Any]

    def student(self) -> Protocol[Any]: ...

    def learn(self, student: Protocol[Any], result: Result, teacher: Result) -> Lesson: ...

    def route(self, student: Protocol[Any]) -> tuple[str | None, int]:
        """Which stage answered the student's last run, and how many it escalated."""
        ...


def make_config(config_cls: type[ModelT], options: dict[str, Any], name: str) -> ModelT:
    """Validate ``options`` into ``config_cls`` with a message that lists the options."""
    try:
        return config_cls(**options)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        known = ", ".join(config_cls.model_fields) or "none"
        raise ConfigurationError(
            f"invalid options for protocol {name!r}: {problems}. Known options: {known}"
        ) from None


def parse_option(pair: str) -> tuple[str, Any]:
    """A ``key=value`` option from a command line. The value is read as JSON when it
    parses (``3``, ``true``, ``null``, ``0.5``, ``"x"``), else kept as text."""
    key, sep, raw = pair.partition("=")
    if not sep or not key.strip():
        raise ConfigurationError(f"option {pair!r} must look like key=value (e.g. max_rounds=3)")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def available() -> list[str]:
    """Names of every registered protocol."""
    return sorted(registered(GROUP))


def get_protocol(name: str) -> type[Protocol]:
    """The registered protocol class called ``name``."""
    return load(GROUP, name, Protocol, "protocol")


class OptionInfo(BaseModel):
    name: str
    type: str
    default: Any
    description: str = ""
    choices: list[Any] | None = None


def describe_options(protocol: type[Protocol]) -> list[OptionInfo]:
    """A protocol's options with types, defaults and choices (CLI and app listings)."""
    from typing import Literal, get_args, get_origin

    infos = []
    for name, field in protocol.Config.model_fields.items():
        annotation = field.annotation
        choices = list(get_args(annotation)) if get_origin(annotation) is Literal else None
        type_name = getattr(annotation, "__name__", None) or str(annotation)
        infos.append(
            OptionInfo(
                name=name,
                type="choice" if choices else type_name.replace("typing.", ""),
                default=field.get_default(call_default_factory=True),
                description=field.description or "",
                choices=choices,
            )
        )
    return infos
