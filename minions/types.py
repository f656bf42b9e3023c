"""The values that cross every boundary: messages, completions and usage."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    is the part of them served from a prompt cache.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cached_input_tokens: int = Field(default=0, ge=0)
    calls: int = Field(default=0, ge=0)

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            calls=self.calls + other.calls,
        )

    def __radd__(self, other: object) -> Usage:
        # lets sum(usages) start from 0
        if other == 0:
            return self
        return NotImplemented

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __bool__(self) -> bool:
        return bool(self.total_tokens or self.calls)


class Completion(BaseModel):
    """What one ``Client.chat`` call returned.

    When a schema was given, ``parsed`` holds the validated object, or ``parse_error``
    says why the text did not validate (``parsed`` is then ``None``).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    text: str
    parsed: Any = None
    parse_error: str | None = None
    usage: Usage = Field(default_factory=Usage)
    finish_reason: FinishReason = "stop"
    latency_s: float = 0.0
    model: str = ""

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"
