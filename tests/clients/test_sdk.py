"""The helpers the SDK-backed providers share: error mapping, Retry-After, names."""

from __future__ import annotations

import email.utils
import time
from typing import Generic, TypeVar

import pytest
from pydantic import BaseModel

from minions.clients._sdk import body_message, error_for_status, retry_after_s, schema_name
from minions.errors import (
    AuthenticationError,
    ContextWindowExceeded,
    ProviderError,
    TransientProviderError,
)

T = TypeVar("T")


def mapped(status: int, message: str = "boom", code: str | None = None) -> ProviderError:
    return error_for_status(
        "x", status, message, key_hint="Set X_KEY.", not_found_hint="Pull it.", code=code
    )


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
def test_retryable_statuses_are_transient(status: int) -> None:
    error = mapped(status)
    assert isinstance(error, TransientProviderError) and error.status_code == status


@pytest.mark.parametrize("status", [401, 403])
def test_credential_statuses_say_what_to_set(status: int) -> None:
    error = mapped(status, "invalid key")
    assert isinstance(error, AuthenticationError) and not error.transient
    assert str(error) == f"x: HTTP {status}: invalid key. Set X_KEY."


def test_not_found_says_how_to_get_the_model() -> None:
    error = mapped(404, "no such model")
    assert type(error) is ProviderError and str(error).endswith("Pull it.")


def test_context_overflow_by_code_or_message() -> None:
    assert isinstance(mapped(400, "too big", code="context_length_exceeded"), ContextWindowExceeded)
    assert isinstance(mapped(400, "prompt is too long: 9 > 8"), ContextWindowExceeded)
    plain = mapped(400, "unknown field 'foo'")
    assert type(plain) is ProviderError and not plain.transient


def test_retry_after_forms() -> None:
    assert retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after": "3"}) == 3.0
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 < (retry_after_s({"retry-after": in_a_minute}) or 0) <= 60
    assert retry_after_s({"retry-after": "soon"}) is None
    assert retry_after_s({}) is None


def test_provider_messages_from_error_bodies() -> None:
    assert body_message({"type": "error", "error": {"message": "Overloaded"}}) == "Overloaded"
    assert body_message({"message": "bad", "code": None}) == "bad"
    assert body_message({"error": "model not found"}) == "model not found"
    assert body_message("  plain text  ") == "plain text"
    assert body_message(None) is None


def test_schema_names_are_what_providers_accept() -> None:
    class Box(BaseModel, Generic[T]):
        item: T

    assert schema_name(Box[int]) == "Box_int_"
