"""Fake provider servers: ``MockTransport`` handlers that answer with documented
response bodies and record what the client sent.

``ollama`` sends through ``httpx``; ``openai`` and ``anthropic`` through ``httpx2``
(a fork with the same API), so a server is built for one of the two modules.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from minions.clients import Client, RetryingClient
from minions.errors import TransientProviderError
from minions.types import Message


class Answer(BaseModel):
    """The structured reply the tests ask for."""

    answer: str
    confidence: float


ANSWER = {"answer": "Paris", "confidence": 0.9}


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None  # a raw body, sent instead of ``body`` as JSON


#: Successful replies whose body is not JSON: a proxy's sign-in page, a JSON body cut
#: off in transit, bytes that are not even UTF-8.
NOT_JSON = [
    Reply(content=b"<!DOCTYPE html><title>Sign in</title>", headers={"content-type": "text/html"}),
    Reply(content=b'{"id": "chatcmpl-B9M", "choi', headers={"content-type": "application/json"}),
    Reply(content=b"\x80\x81\x82 binary", headers={"content-type": "application/json"}),
]


@dataclass
class Sent:
    """One request the client made."""

    method: str
    url: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeServer:
    """Answers the n-th request with the n-th reply (the last one repeats).

    A reply is a :class:`Reply`, a dict (a 200 JSON body) or an exception instance,
    raised as the transport would (e.g. ``httpx.ConnectError``).
    """

    def __init__(self, http: ModuleType, *replies: Reply | dict[str, Any] | Exception) -> None:
        self.http = http
        self.replies = list(replies)
        self.sent: list[Sent] = []

    def handler(self, request: Any) -> Any:
        self.sent.append(
            Sent(
                method=request.method,
                url=str(request.url),
                path=request.url.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=json.loads(request.content) if request.content else None,
            )
        )
        reply = self.replies[min(len(self.sent), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, dict):
            reply = Reply(body=reply)
        if reply.content is not None:
            return self.http.Response(reply.status, content=reply.content, headers=reply.headers)
        return self.http.Response(reply.status, json=reply.body, headers=reply.headers)

    @property
    def transport(self) -> Any:
        return self.http.MockTransport(self.handler)

    def http_client(self) -> Any:
        """An ``AsyncClient`` of the server's module that sends here."""
        return self.http.AsyncClient(transport=self.transport)

    @property
    def last(self) -> Sent:
        return self.sent[-1]

    @property
    def paths(self) -> list[str]:
        return [sent.path for sent in self.sent]


def fast_retries(client: Client) -> RetryingClient:
    """The retry wrapper ``get_client`` adds, with millisecond waits."""
    return RetryingClient(client, attempts=3, initial_wait_s=0.001, max_wait_s=0.01)


async def not_json_is_retried(
    make: Callable[[FakeServer], Client], http: ModuleType, bad: Reply, good: Any, error: str
) -> None:
    """A 200 reply ``bad`` that is not JSON is a transient error matching ``error``
    (from the client ``make`` builds), and the retry wrapper gets the ``good`` reply on
    the next request, counting the retry in the usage."""
    question = [Message.user("What is the capital of France?")]
    with pytest.raises(TransientProviderError, match=error):
        await make(FakeServer(http, bad)).chat(question)

    server = FakeServer(http, bad, good)
    reply = await fast_retries(make(server)).chat(question)

    assert reply.text == "Paris."
    assert len(server.sent) == 2
    assert (reply.usage.calls, reply.usage.retries) == (1, 1)
