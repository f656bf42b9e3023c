"""Every error the library raises on purpose derives from ``MinionsError``.

Messages say what went wrong and what to do next.
"""

from __future__ import annotations


class MinionsError(Exception):
    """Base class of the library's errors."""


class ConfigurationError(MinionsError, ValueError):
    """A spec, option or argument that cannot work as given."""


class MissingDependencyError(MinionsError, ImportError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, what: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{what} needs the '{package}' package, which is not installed. "
            f"Install it with: pip install 'minions[{extra}]'"
        )


class UnknownProviderError(ConfigurationError):
    """A client spec names a provider nobody registered."""


class ProviderError(MinionsError):
    """A model provider refused or failed a request.

    ``transient`` errors (rate limits, 5xx, timeouts, dropped connections, a reply
    body that is not JSON) are worth retrying; the others (bad key, bad request,
    unknown model) are not. ``attempts`` is how many requests the failed call made,
    retries included (set by ``RetryingClient``; 1 without it).
    """

    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.provider = provider
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        self.attempts = 1
        prefix = f"{provider}: " if provider else ""
        super().__init__(prefix + message)


class TransientProviderError(ProviderError):
    """Rate limit, server error, timeout, dropped connection or garbled reply: retry
    later."""

    transient = True


class AuthenticationError(ProviderError):
    """The provider rejected the credentials."""


class ContextWindowExceeded(ProviderError):
    """The prompt does not fit in the model's context window."""


class BudgetExceeded(MinionsError):
    """A run reached one of its limits (remote dollars, remote calls, wall time)."""


class RunFailed(MinionsError):
    """A run ended without an answer; ``result`` holds everything it did."""

    def __init__(self, result: object) -> None:
        self.result = result
        status = getattr(result, "status", "error")
        error = getattr(result, "error", None) or "no answer"
        super().__init__(f"run ended with status {status!r}: {error}")


class ProtocolError(MinionsError):
    """A protocol could not go on, e.g. a model kept replying in an unusable form."""


class DocumentError(ConfigurationError):
    """A document that cannot be loaded or chunked as given: missing, empty, damaged,
    undecodable or of an unsupported type."""


def one_line(message: str) -> str:
    """``message`` as one line, for a terminal or a page: line breaks (real ones and
    ``\\n`` escapes left in by a ``repr``) and runs of spaces become one space."""
    return " ".join(message.replace("\\r", " ").replace("\\n", " ").split())


def first_error(group: BaseExceptionGroup) -> BaseException:
    """The first real failure in a task group's exceptions (not a cancellation), so a
    caller sees one error it can handle instead of an ExceptionGroup."""
    import asyncio

    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        item = stack.pop(0)
        if isinstance(item, BaseExceptionGroup):
            stack[:0] = list(item.exceptions)
        else:
            leaves.append(item)
    real = [e for e in leaves if not isinstance(e, asyncio.CancelledError)]
    return (real or leaves or [group])[0]
