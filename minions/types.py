"""The values that cross every boundary: messages, completions and usage."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length"]


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    content: str

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str) -> Message:
        return cls(role="assistant", content=content)


class Usage(BaseModel):
    """Tokens and calls, addable: ``Usage() + a + b`` sums every field.

    ``input_tokens`` counts every prompt token, cached or not; ``cached_input_tokens``
    is the part of them served from a prompt cache. ``calls`` counts chat calls and
    ``retries`` the extra requests they took (sent again by the retry wrapper after a
    transient failure), so ``requests`` is how many requests were sent in all.

    ``cache_hits`` are calls answered from the response cache
    (:mod:`minions.clients.cache`): no request was sent and no token processed, so
    they add nothing to the token fields and cost $0. What they took when first
    answered is kept apart, in ``cache_hit_input_tokens`` and
    ``cache_hit_output_tokens`` (:meth:`cache_hit_usage`), so the dollars the cache
    saved stay visible (``Cost.cached_usd``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cached_input_tokens: int = Field(default=0, ge=0)
    calls: int = Field(default=0, ge=0)
    retries: int = Field(default=0, ge=0, description="requests made beyond `calls`")
    cache_hits: int = Field(
        default=0, ge=0, description="calls answered from the response cache (no request)"
    )
    cache_hit_input_tokens: int = Field(
        default=0, ge=0, description="prompt tokens the cache hits took when first answered"
    )
    cache_hit_output_tokens: int = Field(
        default=0, ge=0, description="reply tokens the cache hits took when first answered"
    )

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            **{name: getattr(self, name) + getattr(other, name) for name in Usage.model_fields}
        )

    def __radd__(self, other: object) -> Usage:
        # lets sum(usages) start from 0
        if other == 0:
            return self
        return NotImplemented

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def requests(self) -> int:
        return self.calls - self.cache_hits + self.retries

    def cache_hit_usage(self) -> Usage:
        """The cache hits as the calls they would have been without the cache: what
        pricing them says they saved."""
        return Usage(
            input_tokens=self.cache_hit_input_tokens,
            output_tokens=self.cache_hit_output_tokens,
            calls=self.cache_hits,
        )

    def uncached(self) -> Usage:
        """This usage as if nothing had come from the response cache: the cache hits'
        tokens counted as the calls' own (what the work needs, however often it ran)."""
        hits = self.cache_hit_usage()
        return self.model_copy(
            update={
                "input_tokens": self.input_tokens + hits.input_tokens,
                "output_tokens": self.output_tokens + hits.output_tokens,
                "cache_hits": 0,
                "cache_hit_input_tokens": 0,
                "cache_hit_output_tokens": 0,
            }
        )

    def __bool__(self) -> bool:
        return bool(self.total_tokens or self.calls or self.retries)


ParsedT = TypeVar("ParsedT")


class Completion(BaseModel, Generic[ParsedT]):
    """What one ``Client.chat`` call returned.

    When a schema was given, ``parsed`` holds the validated object, typed by the schema
    (``Completion[Capex]`` for ``schema=Capex``), or ``parse_error`` says why the text
    did not validate (``parsed`` is then ``None``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str
    parsed: ParsedT | None = None
    parse_error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    finish_reason: FinishReason = "stop"
    latency_s: float = 0.0
    model: str = ""

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


# --- what a protocol run returns ----------------------------------------------------

RunStatus = Literal["answered", "budget_exceeded", "error"]


class Cost(BaseModel):
    """Dollars of a run, next to what the same task would cost remote-only.

    ``None`` means unpriced (no known price for the model), never $0. ``remote_usd``
    is what was spent: calls answered from the response cache cost nothing and are
    not in it; ``cached_usd`` is what they would have cost, so the protocol's
    ``savings_ratio`` is measured as if every call had been sent.
    """

    model_config = ConfigDict(extra="forbid")

    remote_usd: float | None = None
    local_usd: float | None = 0.0
    remote_only_usd: float | None = None
    cached_usd: float | None = Field(
        default=0.0, description="what the remote calls served from the cache would have cost"
    )
    priced_as: str = Field(default="", description="model whose prices were used for remote")
    note: str = ""

    @property
    def total_usd(self) -> float | None:
        if self.remote_usd is None or self.local_usd is None:
            return None
        return self.remote_usd + self.local_usd

    @property
    def savings_ratio(self) -> float | None:
        """How many times cheaper than remote-only, with the calls served from the
        response cache priced as if sent (``remote_only_usd / (total_usd +
        cached_usd)``), so the cache never inflates it."""
        total = self.total_usd
        if total is None or self.remote_only_usd is None or self.cached_usd is None:
            return None
        total += self.cached_usd
        if total == 0:
            return None if self.remote_only_usd == 0 else float("inf")
        return self.remote_only_usd / total


class Timings(BaseModel):
    """Wall-clock seconds; ``local_s`` and ``remote_s`` are time spent waiting on each
    role's calls, ``sandbox_s`` running the remote's code in the sandbox (overlapping
    spans count once), ``overhead_s`` the rest: the framework's own time."""

    model_config = ConfigDict(extra="forbid")

    total_s: float = 0.0
    local_s: float = 0.0
    remote_s: float = 0.0
    sandbox_s: float = 0.0

    @property
    def overhead_s(self) -> float:
        return max(0.0, self.total_s - self.local_s - self.remote_s - self.sandbox_s)


class QuoteCheck(BaseModel):
    """Whether a job's quote is in its chunk (:func:`minions.citations.check_quote`):
    how it was found and where (offsets in the chunk's text; approximate when fuzzy)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    verified: bool
    method: Literal["exact", "normalized", "fuzzy", "none"]
    score: float = 0.0
    start: int | None = None
    end: int | None = None
    states_answer: bool | None = Field(
        default=None,
        description="whether the quote states a figure of the answer (None: the answer "
        "has no figure, or it was not checked)",
    )


class QuotedPassage(BaseModel):
    """A passage a free-text local reply quoted, and where it was found: the document
    and page whose text holds it (:func:`minions.citations.locate_quote`), or none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    doc: str | None = None
    page: int | None = None
    check: QuoteCheck

    @property
    def verified(self) -> bool:
        return self.check.verified


class Turn(BaseModel):
    """One call of one role: what it was asked and what it answered, and for a local
    reply in free text the passages it quoted, checked against the documents."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["local", "remote"]
    purpose: str
    prompt: str
    reply: str
    usage: Usage = Field(default_factory=Usage)
    latency_s: float = 0.0
    error: str | None = None
    quotes: list[QuotedPassage] = Field(default_factory=list)


class ChunkRef(BaseModel):
    """Where a job read: a document and a page span (1-based, inclusive)."""

    model_config = ConfigDict(extra="forbid")

    doc: str
    index: int
    page_start: int
    page_end: int

    @property
    def pages(self) -> str:
        if self.page_start == self.page_end:
            return f"p. {self.page_start}"
        return f"pp. {self.page_start}-{self.page_end}"


class JobOutput(BaseModel):
    """What the local model returns for one job; ``answer`` null means the chunk does
    not hold what the task asks for.

    Every key is required (``citation`` and ``answer`` may be null) and no other key is
    allowed, so a reply like ``{"foo": 1}`` is an invalid output, not an abstention.
    """

    model_config = ConfigDict(extra="forbid")

    # the verbatim quote comes first, so the answer the model writes after it is
    # grounded in it (schema-constrained decoding follows this order)
    citation: str | None
    explanation: str
    answer: str | None

    @field_validator("explanation", "citation", "answer", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # small models answer 42 or ["a", "b"] where a string is asked for
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, list):
            return "; ".join(str(v) for v in value)
        return value

    @property
    def abstained(self) -> bool:
        return self.answer is None or not str(self.answer).strip()


class JobRecord(BaseModel):
    """One local job: a task on a chunk, one sample, and its outcome."""

    model_config = ConfigDict(extra="forbid")

    job_id: int
    task_id: int
    task: str
    advice: str = ""
    chunk: ChunkRef
    sample: int = 0
    output: JobOutput | None = None
    quote: QuoteCheck | None = Field(
        default=None, description="the output's quote checked against the chunk"
    )
    error: str | None = None
    attempts: int = 1
    latency_s: float = 0.0
    usage: Usage = Field(default_factory=Usage)

    @property
    def abstained(self) -> bool:
        return self.output is None or self.output.abstained

    @property
    def verified(self) -> bool:
        """The quote is in the chunk and, when the answer has figures, states one."""
        quote = self.quote
        return quote is not None and quote.verified and quote.states_answer is not False


class Round(BaseModel):
    """One round of a protocol: the remote's turns, the code it wrote, the jobs."""

    model_config = ConfigDict(extra="forbid")

    index: int
    turns: list[Turn] = Field(default_factory=list)
    code: str | None = None
    jobs: list[JobRecord] = Field(default_factory=list)
    decision: str | None = None
    feedback: str | None = None
    notes: list[str] = Field(default_factory=list)


class CallExposure(BaseModel):
    """What one remote call was sent of the documents (:mod:`minions.privacy`)."""

    model_config = ConfigDict(extra="forbid")

    purpose: str
    round: int = 0
    ngram_share: float = Field(description="of the documents' distinct word 8-grams")
    longest_span_chars: int = Field(description="longest verbatim run of 8 words or more")
    sensitive_sent: dict[str, int] = Field(
        default_factory=dict, description="distinct sensitive values it carried, by kind"
    )


class SensitiveCount(BaseModel):
    """Distinct sensitive values of one kind (:mod:`minions.pii`): in the documents, and
    of those, how many reached the remote in any form."""

    model_config = ConfigDict(extra="forbid")

    found: int = 0
    sent: int = 0


class Privacy(BaseModel):
    """What of the documents reached the remote in a run (:mod:`minions.privacy`):
    the share of their word 8-grams in remote-bound text (over all calls, each
    counted once; remote_only is about 1.0), the longest verbatim span, and the
    sensitive values found in the documents and sent, by kind; and per call."""

    model_config = ConfigDict(extra="forbid")

    document_ngrams: int = 0
    ngram_share: float = 0.0
    longest_span_chars: int = 0
    sensitive: dict[str, SensitiveCount] = Field(default_factory=dict)
    calls: list[CallExposure] = Field(default_factory=list)


class Result(BaseModel):
    """Everything a run produced; ``to_json()`` / ``from_json()`` round-trip it."""

    model_config = ConfigDict(extra="forbid")

    protocol: str
    task: str
    answer: str | None
    status: RunStatus = "answered"
    error: str | None = None
    citations: list[str] = Field(default_factory=list)
    local_model: str = ""
    remote_model: str = ""
    documents: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    usage: dict[str, Usage] = Field(default_factory=dict)
    cost: Cost = Field(default_factory=Cost)
    timings: Timings = Field(default_factory=Timings)
    rounds: list[Round] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    privacy: Privacy = Field(default_factory=Privacy)

    @property
    def local_usage(self) -> Usage:
        return self.usage.get("local", Usage())

    @property
    def remote_usage(self) -> Usage:
        return self.usage.get("remote", Usage())

    @property
    def jobs(self) -> list[JobRecord]:
        return [job for r in self.rounds for job in r.jobs]

    def to_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> Result:
        return cls.model_validate_json(text)

    def raise_for_status(self) -> Result:
        """Raise :class:`minions.errors.RunFailed` unless the run answered."""
        from minions.errors import RunFailed

        if self.status != "answered":
            raise RunFailed(self)
        return self
