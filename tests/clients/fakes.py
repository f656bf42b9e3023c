"""Fake provider servers: ``MockTransport`` handlers that answer with documented
response bodies and record what the client sent.

``ollama`` sends through ``httpx``; ``openai`` and ``anthropic`` through ``httpx2``
(a fork with the same API), so a server is built for one of the two modules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from minions.clients import Client, RetryingClient


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
