"""The response cache: which calls it answers, what a hit costs, and its SQLite store
shared by threads and processes within a size bound."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import minions
from minions.clients import CachedClient, RetryingClient, cached, get_client
from minions.clients._store import LruStore
from minions.clients.cache import ENV_VAR, ResponseCache, default_folder, is_deterministic
from minions.clients.scripted import ScriptedClient, ScriptedReply
from minions.types import Message, Usage

QUESTION = [Message.user("What was 3M's capital expenditure in 2018?")]


class Capex(BaseModel):
    amount: int


class Other(BaseModel):
    amount: int
    year: int = 2018


def counting(reply: Any = '{"amount": 1577}', model: str = "") -> tuple[Any, ScriptedClient]:
    """A cached scripted client answering ``reply`` to everything, and the client
    underneath (its ``calls`` are what reached the "provider")."""
    client = get_client(f"scripted:{model}", replies=lambda _: reply, retries=0, cache=True)
    return client, client.unwrap()


def provider_calls(inner: ScriptedClient) -> int:
    return len(inner.calls)


# --- what is cached -----------------------------------------------------------------


def test_a_repeated_deterministic_call_is_answered_from_the_cache() -> None:
    client, inner = counting()
    first = client.chat_sync(QUESTION, schema=Capex, temperature=0)
    second = client.chat_sync(QUESTION, schema=Capex, temperature=0)

    assert provider_calls(inner) == 1
    assert second.parsed == first.parsed == Capex(amount=1577)
    assert second.text == first.text
    assert first.usage.cache_hits == 0 and first.usage.input_tokens > 0
    assert second.usage == Usage(
        calls=1,
        cache_hits=1,
        cache_hit_input_tokens=first.usage.input_tokens,
        cache_hit_output_tokens=first.usage.output_tokens,
    )
    assert second.usage.requests == 0  # nothing was sent


@pytest.mark.parametrize(
    "options",
    [{}, {"temperature": 0.7}, {"temperature": 1.0, "seed": None}, {"max_tokens": 10}],
    ids=["provider-default", "temperature", "seed-none", "no-temperature"],
)
def test_a_call_that_is_not_deterministic_is_never_cached(options: dict[str, Any]) -> None:
    client, inner = counting()
    for _ in range(3):
        reply = client.chat_sync(QUESTION, **options)
        assert reply.usage.cache_hits == 0
    assert provider_calls(inner) == 3
    assert client.cache.usage()[0] == 0


def test_a_fixed_seed_makes_a_sampled_call_deterministic_and_the_seed_is_in_the_key() -> None:
    client, inner = counting()
    client.chat_sync(QUESTION, temperature=0.7, seed=1)
    assert client.chat_sync(QUESTION, temperature=0.7, seed=1).usage.cache_hits == 1
    assert client.chat_sync(QUESTION, temperature=0.7, seed=2).usage.cache_hits == 0
    assert provider_calls(inner) == 2


def test_a_client_seeded_by_default_has_its_default_temperature_calls_cached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client, inner = counting()
    client.chat_sync(QUESTION)
    client.chat_sync(QUESTION)
    assert provider_calls(inner) == 2  # a provider's default temperature samples

    seeded = inner.capabilities.derive(seeded_by_default=True)
    monkeypatch.setattr(inner, "capabilities", seeded)
    client.chat_sync(QUESTION)
    assert client.chat_sync(QUESTION).usage.cache_hits == 1
    assert provider_calls(inner) == 3


def test_is_deterministic() -> None:
    assert is_deterministic({"temperature": 0}) and is_deterministic({"temperature": 0.0})
    assert is_deterministic({"seed": 0}) and is_deterministic({"temperature": 2, "seed": 7})
    assert not is_deterministic({}) and not is_deterministic({"temperature": 0.01})
    assert is_deterministic({"temperature": 0.7}, seeded_by_default=True)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"schema": Capex}, {"schema": Other}),
        ({"schema": Capex}, {}),
        ({"max_tokens": 10}, {"max_tokens": 11}),
        ({"stop": ["\n"]}, {}),
        ({"temperature": 0.0, "top_p": 0.9}, {"temperature": 0.0, "top_p": 0.5}),
    ],
    ids=["schema", "schema-or-none", "max_tokens", "stop", "provider-option"],
)
def test_the_schema_and_every_option_are_part_of_the_key(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    client, inner = counting()
    first, second = {"temperature": 0, **first}, {"temperature": 0, **second}
    client.chat_sync(QUESTION, **first)
    assert client.chat_sync(QUESTION, **second).usage.cache_hits == 0
    assert client.chat_sync(QUESTION, **first).usage.cache_hits == 1
    assert client.chat_sync(QUESTION, **second).usage.cache_hits == 1
    assert provider_calls(inner) == 2


def test_the_messages_and_the_model_are_part_of_the_key() -> None:
    client, inner = counting(model="a")
    other, other_inner = counting(model="b")
    client.chat_sync(QUESTION, temperature=0)
    assert client.chat_sync([Message.user("Another?")], temperature=0).usage.cache_hits == 0
    assert client.chat_sync([Message.system("x"), *QUESTION], temperature=0).usage.cache_hits == 0
    assert other.chat_sync(QUESTION, temperature=0).usage.cache_hits == 0
    assert provider_calls(inner) == 3 and provider_calls(other_inner) == 1


def test_where_a_model_is_served_is_part_of_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("openai")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    one = get_client("openai:m", base_url="http://a.example/v1", api_key="k")
    two = get_client("openai:m", base_url="http://b.example/v1", api_key="k")
    assert one.identity != two.identity
    assert one.identity == get_client("openai:m", base_url="http://a.example/v1").identity


def test_a_reply_that_fails_its_schema_is_not_kept() -> None:
    client, inner = counting(reply="not json")
    assert client.chat_sync(QUESTION, schema=Capex, temperature=0).parse_error
    assert client.chat_sync(QUESTION, schema=Capex, temperature=0).usage.cache_hits == 0
    assert provider_calls(inner) == 2


def test_a_hit_is_validated_against_the_schema_asked_for() -> None:
    client, _ = counting(reply=ScriptedReply('{"amount": 5}', finish_reason="length"))
    client.chat_sync(QUESTION, temperature=0)
    hit = client.chat_sync(QUESTION, temperature=0)
    assert hit.usage.cache_hits == 1 and hit.finish_reason == "length"
    assert hit.parsed is None  # no schema asked: text only, as the provider would give


def test_options_that_are_not_json_are_not_cached() -> None:
    client, inner = counting()
    for _ in range(2):
        client.chat_sync(QUESTION, temperature=0, logits_processor=object())
    assert provider_calls(inner) == 2


async def test_identical_calls_in_flight_at_once_reach_the_provider_once() -> None:
    inner = ScriptedClient(replies=lambda _: "42", delay_s=0.05)
    client = cached(inner)
    replies = await asyncio.gather(*(client.chat(QUESTION, temperature=0) for _ in range(5)))
    assert len(inner.calls) == 1
    assert sorted(r.usage.cache_hits for r in replies) == [0, 1, 1, 1, 1]
    assert client._flights[asyncio.get_running_loop()] == {}  # type: ignore[attr-defined]


# --- turning it on and off ------------------------------------------------------------


def test_get_client_puts_the_cache_outermost_and_cached_wraps_once() -> None:
    client = get_client("scripted:", cache=True)
    assert isinstance(client, CachedClient) and isinstance(client.wrapped, RetryingClient)
    assert cached(client) is client
    assert not isinstance(get_client("scripted:"), CachedClient)  # off by default here
    assert get_client("scripted:", cache=False).__class__ is RetryingClient
    instance = ScriptedClient()
    assert get_client(instance, cache=True) is instance  # instances are used as given


def test_the_cache_folder_comes_from_the_environment_and_off_turns_it_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "mine"))
    client = get_client("scripted:", replies=["a"], cache=True)
    assert client.cache.folder == tmp_path / "mine"
    client.chat_sync(QUESTION, temperature=0)
    assert (tmp_path / "mine" / "responses.sqlite").is_file()

    monkeypatch.setenv(ENV_VAR, "off")
    assert default_folder() is None
    assert not isinstance(get_client("scripted:", cache=True), CachedClient)
    explicit = get_client("scripted:", cache=tmp_path / "given")
    assert explicit.cache.folder == tmp_path / "given"


def test_the_default_folder_is_beside_the_model_packs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.setenv("MINIONS_CACHE_DIR", str(tmp_path))
    assert default_folder() == tmp_path / "responses"  # the packs are in tmp_path/models


_seen_folders: list[Path] = []


@pytest.mark.parametrize("attempt", [1, 2])
def test_every_test_starts_with_an_empty_cache_of_its_own(attempt: int) -> None:
    folder = default_folder()
    assert folder is not None and not folder.exists()
    assert folder not in _seen_folders
    _seen_folders.append(folder)
    client, _ = counting()
    assert client.chat_sync(QUESTION, temperature=0).usage.cache_hits == 0
    assert client.chat_sync(QUESTION, temperature=0).usage.cache_hits == 1


# --- what a hit costs -------------------------------------------------------------------


def remote_only_run(cache: ResponseCache) -> minions.Result:
    """remote_only (one call at temperature 0) on a cached remote priced as gpt-4o."""
    answer = "Capital expenditure was $1,577 million."
    remote = cached(ScriptedClient(replies=lambda _: answer), cache)
    local = ScriptedClient(local=True)
    return minions.ask(
        "What was 3M's capital expenditure in 2018?",
        "3M spent $1,577 million on property, plant and equipment in 2018. " * 50,
        protocol="remote_only",
        local=local,
        remote=remote,
        price_as="openai:gpt-4o",
    )


def test_a_hit_costs_nothing_and_what_it_would_have_cost_stays_visible(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path)
    first = remote_only_run(cache)
    second = remote_only_run(cache)

    assert first.remote_usage.cache_hits == 0 and second.remote_usage.cache_hits == 1
    assert second.remote_usage.input_tokens == second.remote_usage.output_tokens == 0
    assert first.cost.remote_usd and first.cost.remote_usd > 0 and first.cost.cached_usd == 0
    assert second.cost.remote_usd == 0
    assert second.cost.cached_usd == pytest.approx(first.cost.remote_usd)
    # what remote-only costs and the protocol's savings are the same with or without it
    assert second.cost.remote_only_usd == pytest.approx(first.cost.remote_only_usd)
    assert second.cost.savings_ratio == pytest.approx(first.cost.savings_ratio)
    assert second.cost.savings_ratio != float("inf")


def test_usage_adds_cache_hits_and_prices_them_apart() -> None:
    sent = Usage(input_tokens=100, output_tokens=10, calls=1, retries=1)
    hit = Usage(calls=1, cache_hits=1, cache_hit_input_tokens=100, cache_hit_output_tokens=10)
    total = sent + hit
    assert total.calls == 2 and total.requests == 2 and total.cache_hits == 1
    assert total.total_tokens == 110
    assert total.cache_hit_usage() == Usage(input_tokens=100, output_tokens=10, calls=1)
    assert bool(hit)  # a call happened, though nothing was sent
    saved = minions.price(total.cache_hit_usage(), "openai:gpt-4o").usd
    assert minions.price(hit, "openai:gpt-4o").usd == 0
    assert saved == minions.price(sent, "openai:gpt-4o").usd


def test_ask_caches_the_clients_it_builds_from_specs_unless_told_not_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import minions.api

    build = minions.api.get_client

    def scripted(spec: Any, **kwargs: Any) -> Any:  # the spec "scripted:", with a reply
        return build(spec, replies=lambda _: "Capex was $1,577 million.", local=True, **kwargs)

    monkeypatch.setattr(minions.api, "get_client", scripted)

    def local_usage(**kwargs: Any) -> Usage:
        result = minions.ask(
            "What was the capex?", minions.Document.from_text("Capex was $1,577 million."),
            protocol="local_only",
            local="scripted:", remote="scripted:", **kwargs,
        )  # fmt: skip
        return result.local_usage

    assert local_usage().cache_hits == 0
    again = local_usage()
    assert again.cache_hits == 1 and again.input_tokens == 0  # on by default
    assert local_usage(cache=False).cache_hits == 0


# --- the store: bound, threads and processes ---------------------------------------------


def test_the_store_evicts_the_least_recently_used_beyond_its_bound(tmp_path: Path) -> None:
    store = LruStore(tmp_path / "s.sqlite", max_bytes=1000)
    for i in range(4):
        store.put(f"k{i}", b"x" * 240)
    assert store.usage() == (4, 960)
    assert store.get("k0") == b"x" * 240  # k0 is now the most recently used
    store.put("k4", b"y" * 240)  # 1200 > 1000: the oldest, k1, goes
    assert store.get("k1") is None
    assert {k for k in ("k0", "k2", "k3", "k4") if k in store} == {"k0", "k2", "k3", "k4"}
    store.put("big", b"z" * 990)  # fits alone: everything else goes
    assert store.usage() == (1, 990)
    assert not store.put("huge", b"z" * 1001) and "huge" not in store
    assert store.usage() == (1, 990)


def test_the_response_cache_stays_within_its_bound(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, max_bytes=4000)
    client = cached(ScriptedClient(replies=lambda m: m[-1].content * 20), cache)
    for i in range(40):
        client.chat_sync(f"question {i:03d}", temperature=0)
    entries, size = cache.usage()
    assert 0 < size <= 4000 and entries < 40
    assert client.chat_sync("question 039", temperature=0).usage.cache_hits == 1
    assert client.chat_sync("question 000", temperature=0).usage.cache_hits == 0


def test_a_damaged_store_is_a_miss_not_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "responses.sqlite").write_bytes(b"this is not a database" * 100)
    client = cached(ScriptedClient(replies=lambda _: "fine"), ResponseCache(tmp_path))
    assert client.chat_sync(QUESTION, temperature=0).text == "fine"
    assert client.chat_sync(QUESTION, temperature=0).usage.cache_hits == 0
    assert "cannot be opened" in caplog.text


def test_threads_share_the_store(tmp_path: Path) -> None:
    store = LruStore(tmp_path / "s.sqlite", max_bytes=1 << 20)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                store.put(f"{n}-{i}", str(i).encode())
                assert store.get(f"{n}-{i}") == str(i).encode()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.usage()[0] == 200


def test_threads_opening_a_new_file_at_once_all_get_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Turning a new file to WAL mode is refused as busy, without waiting, while other
    connections open it: the store retries instead of going on without the cache."""
    for attempt in range(60):
        store = LruStore(tmp_path / f"{attempt}.sqlite", max_bytes=1 << 20)
        start = threading.Barrier(6)

        def first_touch(n: int, store: LruStore = store, start: threading.Barrier = start) -> None:
            start.wait()
            store.get("nothing yet")
            store.put(f"k{n}", b"v")

        threads = [threading.Thread(target=first_touch, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.usage()[0] == 6, caplog.text
    assert "cannot be opened" not in caplog.text


WRITER = """
import sys
from minions.clients import cached
from minions.clients.cache import ResponseCache
from minions.clients.scripted import ScriptedClient

folder, name = sys.argv[1], sys.argv[2]
inner = ScriptedClient(replies=lambda m: "reply to " + m[-1].content)
client = cached(inner, ResponseCache(folder))
hits = 0
for i in range(60):
    # half the questions are this process's own, half are shared with the other one
    question = f"shared {i}" if i % 2 else f"{name} {i}"
    hits += client.chat_sync(question, temperature=0).usage.cache_hits
print(hits)
"""


def test_processes_share_the_cache_while_both_write(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in ("one", "two")
    ]
    outputs = [w.communicate(timeout=120) for w in writers]
    assert [w.returncode for w in writers] == [0, 0], outputs
    assert "Traceback" not in "".join(err for _, err in outputs)

    cache = ResponseCache(tmp_path)
    assert cache.usage()[0] == 90  # 30 + 30 questions of their own, 30 shared ones once
    reader = cached(ScriptedClient(replies=["never asked"]), cache)
    for question in ("one 0", "two 58", "shared 31"):
        hit = reader.chat_sync(question, temperature=0)
        assert hit.usage.cache_hits == 1 and hit.text == f"reply to {question}"


@pytest.mark.parametrize(("flags", "expected"), [([], True), (["--no-cache"], False)])
def test_minions_ask_caches_unless_no_cache(
    monkeypatch: pytest.MonkeyPatch, flags: list[str], expected: bool
) -> None:
    from typer.testing import CliRunner

    import minions.api
    from minions.cli import EXAMPLES, app
    from tests.protocols.helpers import CODE_ALL_CHUNKS, job_reply, remote_script

    asked: list[object] = []
    local = ScriptedClient("local", replies=job_reply, local=True)
    remote = remote_script(code=[CODE_ALL_CHUNKS], final={"answer": "$1,577 million"})

    def fake_get_client(spec: str, *, cache: object = False) -> Any:
        asked.append(cache)
        return local if "0.5b" in spec or "local" in spec else remote

    monkeypatch.setattr(minions.api, "get_client", fake_get_client)
    document = str(EXAMPLES / "3m-2018-10k-pages-45-64.txt")
    out = CliRunner().invoke(
        app,
        ["ask", document, "-q", "Capex?", "--json", "--local", "scripted:local",
         "--remote", "scripted:remote", "-o", "max_rounds=1", *flags],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert asked == [expected, expected]


def test_the_summary_says_how_many_calls_the_cache_answered() -> None:
    from rich.console import Console

    from minions.console import summary

    usage = {"local": Usage(calls=20, cache_hits=15, input_tokens=900), "remote": Usage(calls=2)}
    console = Console(record=True, width=200)
    console.print(summary(minions.Result(protocol="minions", task="q", answer="42", usage=usage)))
    lines = console.export_text().splitlines()
    remote, local = (
        next(line for line in lines if line.startswith(r)) for r in ("remote ", "local ")
    )
    assert local.rstrip().endswith("in 20 calls, 15 from the cache")
    assert "from the cache" not in remote
