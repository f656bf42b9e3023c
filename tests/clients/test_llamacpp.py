"""``llamacpp:`` against a fake ``llama_cpp`` module whose ``Llama`` answers
``create_chat_completion`` with the documented OpenAI-style response dict. No model
is loaded; tests/e2e runs a real one."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import threading
import time
import types
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from minions import models
from minions.clients import get_client
from minions.clients._store import LruStore
from minions.clients.base import json_schema
from minions.clients.llamacpp import (
    MIN_N_CTX,
    LlamaCppClient,
    _reused_prefix,
    context_size,
    unload_models,
)
from minions.errors import (
    ConfigurationError,
    ContextWindowExceeded,
    MissingDependencyError,
    ProviderError,
)
from minions.models import Pack, numbered_parts
from minions.types import JobOutput, Message

from .fakes import ANSWER, Answer

PACK = "fake-pack"
QUESTION = [Message.system("Be brief."), Message.user("What is the capital of France?")]


def response(content: str, finish_reason: str = "stop", prompt: int = 0, completion: int = 0):
    """A ``create_chat_completion`` result as llama-cpp-python documents it."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "model.gguf",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


class FakeLlama:
    """Tokenizes by words (one token id per distinct word) and replies from a script;
    with a cache set, uses it as ``Llama`` does."""

    instances: ClassVar[list[FakeLlama]] = []
    #: replies (str or exception), used in order, the last one repeating
    script: ClassVar[list[Any]] = []
    delay_s: ClassVar[float] = 0.0
    busy: ClassVar[int] = 0
    max_busy: ClassVar[int] = 0

    def __init__(
        self, model_path: str, *, n_ctx: int, n_threads: int, n_threads_batch: int, verbose: bool
    ) -> None:
        self.model_path = model_path
        self.settings = {"n_ctx": n_ctx, "n_threads": n_threads, "verbose": verbose}
        self.calls: list[dict[str, Any]] = []
        self.threads: set[str] = set()
        self.input_ids: list[int] = []
        self.n_tokens = 0
        self.cache: Any = None
        self.closed = False
        self.loaded: list[Any] = []
        FakeLlama.instances.append(self)

    def n_ctx(self) -> int:
        return int(self.settings["n_ctx"])

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        return [zlib.crc32(w) % 150_000 for w in text.split()]  # the same in every instance

    def set_cache(self, cache: Any) -> None:
        self.cache = cache

    def save_state(self) -> Any:
        """A ``LlamaState``'s fields: ``input_ids`` as long as the context, the logits
        of the batch, and bytes standing for the KV cache."""
        import numpy as np

        ids = np.zeros(self.n_ctx(), dtype=np.intc)
        ids[: self.n_tokens] = self.input_ids
        kv = b"".join(t.to_bytes(4, "little") for t in self.input_ids)
        return types.SimpleNamespace(
            input_ids=ids, scores=np.ones((4, 8), np.float32), n_tokens=self.n_tokens,
            llama_state=kv, llama_state_size=len(kv), seed=7,
        )  # fmt: skip

    def load_state(self, state: Any) -> None:
        kv = bytes(state.llama_state)
        self.input_ids = [int.from_bytes(kv[i : i + 4], "little") for i in range(0, len(kv), 4)]
        self.n_tokens = state.n_tokens
        assert self.input_ids == [int(t) for t in state.input_ids[: state.n_tokens]]
        self.loaded.append(state)

    def _use_cache(self, prompt: list[int]) -> None:
        """As ``Llama`` does: restore the cache's state for ``prompt`` when it shares
        more with it than the context does."""
        try:
            state = self.cache[prompt]
        except KeyError:
            return
        if _shared(state.input_ids[: state.n_tokens], prompt) > _shared(self.input_ids, prompt):
            self.load_state(state)

    def close(self) -> None:
        self.closed = True

    def create_chat_completion(
        self,
        messages: list[dict[str, str]],
        temperature: float = 0.2,
        top_p: float = 0.95,
        stop: list[str] | str | None = None,
        seed: int | None = None,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        repeat_penalty: float = 1.0,
    ) -> dict[str, Any]:
        FakeLlama.busy += 1  # calls in progress, over every instance
        FakeLlama.max_busy = max(FakeLlama.max_busy, FakeLlama.busy)
        try:
            self.threads.add(threading.current_thread().name)
            self.calls.append(
                {"messages": messages, "temperature": temperature, "stop": stop, "seed": seed,
                 "response_format": response_format, "max_tokens": max_tokens}
            )  # fmt: skip
            time.sleep(self.delay_s)
            reply = self.script[min(len(self.calls), len(self.script)) - 1]
            if isinstance(reply, BaseException):
                raise reply
            text = " ".join(f"<{m['role']}> {m['content']}" for m in messages)
            prompt = self.tokenize(text.encode())
            if self.cache is not None:
                self._use_cache(prompt)
            completion = self.tokenize(reply.encode())
            finish = "length" if max_tokens and len(completion) > max_tokens else "stop"
            completion = completion[:max_tokens] if max_tokens else completion
            self.input_ids = prompt + completion
            self.n_tokens = len(self.input_ids)
            if self.cache is not None:
                self.cache[self.input_ids] = self.save_state()
            return response(reply, finish, len(prompt), len(completion))
        finally:
            FakeLlama.busy -= 1


def _shared(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


class FakeRAMCache:
    """``llama_cpp.LlamaRAMCache`` without a capacity."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self.cache_state: OrderedDict[tuple[int, ...], Any] = OrderedDict()

    def _find_longest_prefix_key(self, key: tuple[int, ...]) -> tuple[int, ...] | None:
        best = max(self.cache_state, key=lambda k: _shared(k, key), default=None)
        return best if best is not None and _shared(best, key) > 0 else None

    def __setitem__(self, key: Sequence[int], state: Any) -> None:
        self.cache_state[tuple(key)] = state


@pytest.fixture(autouse=True)
def llama_cpp(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    module = types.ModuleType("llama_cpp")
    module.Llama = FakeLlama  # type: ignore[attr-defined]
    module.LlamaRAMCache = FakeRAMCache  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llama_cpp", module)
    monkeypatch.setattr(FakeLlama, "instances", [])
    monkeypatch.setattr(FakeLlama, "max_busy", 0)
    monkeypatch.setattr(FakeLlama, "script", ['{"answer": "Paris", "confidence": 0.9}'])
    yield module
    unload_models()


@pytest.fixture(autouse=True)
def pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A pulled pack ``fake-pack`` with an 8192-token context."""
    monkeypatch.setenv("MINIONS_CACHE_DIR", str(tmp_path / "cache"))
    content = b"GGUF fake weights"
    fake = Pack(
        name=PACK, model="Fake", description="fake", role="tests",
        parts=numbered_parts("fake-part{i}", "1.0", "fake/part{i}.bin", 1),
        size=len(content), sha256=hashlib.sha256(content).hexdigest(), context_length=8192,
    )  # fmt: skip
    monkeypatch.setitem(models.PACKS, PACK, fake)
    path = models.pack_path(PACK)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    models.verify(PACK)
    return path


def client(**kwargs: Any) -> LlamaCppClient:
    made = get_client(f"llamacpp:{PACK}", retries=0, **kwargs)
    assert isinstance(made, LlamaCppClient)
    return made


def words(n: int, start: int = 0) -> str:
    return " ".join(f"w{i}" for i in range(start, start + n))


# --- mapping -------------------------------------------------------------------------


def test_schema_becomes_a_json_schema_response_format() -> None:
    reply = client().chat_sync(QUESTION, schema=Answer)

    assert reply.parsed == Answer.model_validate(ANSWER) and reply.parse_error is None
    call = FakeLlama.instances[0].calls[0]
    assert call["response_format"] == {"type": "json_object", "schema": Answer.model_json_schema()}
    assert call["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    assert reply.model == PACK and reply.finish_reason == "stop"


def test_the_job_output_schema_becomes_a_grammar_that_requires_every_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "llama_cpp")  # the real module, not the fake
    grammar = pytest.importorskip("llama_cpp.llama_grammar")
    schema = json.dumps(json_schema(JobOutput))

    gbnf = grammar.json_schema_to_gbnf(schema)
    grammar.LlamaGrammar.from_json_schema(schema, verbose=False)  # no fallback to any JSON

    root = next(line for line in gbnf.splitlines() if line.startswith("root ::="))
    keys = [root.index(f"{key}-kv") for key in ("citation", "explanation", "answer")]
    assert keys == sorted(keys) and "?" not in root  # the quote first, all three required
    assert "citation ::= string | null" in gbnf and "answer ::= string | null" in gbnf


def test_plain_text_sends_no_response_format() -> None:
    FakeLlama.script = ["Paris."]
    reply = client().chat_sync("Capital of France?")
    assert reply.text == "Paris." and reply.parsed is None
    assert FakeLlama.instances[0].calls[0]["response_format"] is None


def test_usage_comes_from_the_response() -> None:
    reply = client().chat_sync(QUESTION)
    # the fake counts words: "<system> Be brief. <user> What is the capital of France?"
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (10, 4)
    assert reply.usage.calls == 1 and reply.usage.cached_input_tokens == 0


def test_length_finish_is_mapped_and_the_parse_error_says_so() -> None:
    FakeLlama.script = ['{"answer": "Paris is the capital and", "confidence"']
    reply = client().chat_sync(QUESTION, schema=Answer, max_tokens=3)

    assert reply.finish_reason == "length" and reply.truncated
    assert reply.parsed is None and "cut off" in (reply.parse_error or "")


def test_common_options_are_passed_and_max_tokens_defaults() -> None:
    client(max_tokens=300).chat_sync(QUESTION, temperature=0.0, seed=7, stop=["\n\n"])
    client().chat_sync(QUESTION, max_tokens=50, repeat_penalty=1.1)

    first, second = FakeLlama.instances[0].calls
    assert (first["temperature"], first["seed"], first["stop"]) == (0.0, 7, ["\n\n"])
    assert first["max_tokens"] == 300 and second["max_tokens"] == 50


def test_a_call_without_a_seed_samples_with_the_default_seed() -> None:
    """Not llama-cpp-python's own, which follows from the calls before it."""
    from minions.clients.llamacpp import DEFAULT_SEED

    client().chat_sync(QUESTION, temperature=0.7)
    client().chat_sync(QUESTION, temperature=0.7, seed=None)
    client().chat_sync(QUESTION, temperature=0.7, seed=3)
    assert [c["seed"] for c in FakeLlama.instances[0].calls] == [DEFAULT_SEED, DEFAULT_SEED, 3]
    assert client().capabilities.seeded_by_default  # so the response cache keeps them


def test_an_unknown_option_is_an_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown option\(s\) num_ctx.*temperature"):
        client().chat_sync(QUESTION, num_ctx=4096)


def test_capabilities_come_from_the_pack() -> None:
    made = client()
    assert made.capabilities.context_window == 8192
    assert made.capabilities.structured_output and made.capabilities.local
    assert made.capabilities.max_parallel_requests == 1
    assert made.spec == f"llamacpp:{PACK}"
    assert made.capabilities == LlamaCppClient.defaults.derive(context_window=8192)
    assert client(context_window=2000).capabilities.context_window == 2000


# --- the shared model and its context ------------------------------------------------


def test_clients_of_one_file_share_one_model_loaded_once() -> None:
    first, second = client(n_threads=3), client()
    first.chat_sync(QUESTION)
    second.chat_sync(QUESTION)

    assert len(FakeLlama.instances) == 1
    llama = FakeLlama.instances[0]
    assert len(llama.calls) == 2
    assert llama.settings == {"n_ctx": MIN_N_CTX, "n_threads": 3, "verbose": False}
    assert isinstance(llama.cache, FakeRAMCache) and llama.cache.capacity_bytes == 1 << 30


def test_calls_run_off_the_loop_one_at_a_time_even_across_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FakeLlama, "delay_s", 0.02)
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    clients = [client(), get_client(f"llamacpp:{other}")]

    async def many() -> None:
        await asyncio.gather(*(c.chat(QUESTION) for _ in range(3) for c in clients))

    asyncio.run(many())
    assert [len(llama.calls) for llama in FakeLlama.instances] == [3, 3]
    assert FakeLlama.max_busy == 1
    threads = set.union(*(llama.threads for llama in FakeLlama.instances))
    assert len(threads) == 1 and threading.main_thread().name not in threads


def test_n_ctx_grows_to_fit_and_never_shrinks() -> None:
    made = client(max_tokens=100)
    made.chat_sync("short question")
    made.chat_sync(words(5000))  # 5000 + margin + 100 tokens: needs 8192
    made.chat_sync("short again")

    small, large = FakeLlama.instances
    assert small.n_ctx() == 4096 and small.closed
    assert large.n_ctx() == 8192 and not large.closed
    assert [len(small.calls), len(large.calls)] == [1, 2]


def test_a_prompt_over_the_trained_context_fails_before_the_call() -> None:
    made = client(max_tokens=100)
    with pytest.raises(ContextWindowExceeded, match="context window of 8192"):
        made.chat_sync(words(8100))
    assert all(not llama.calls for llama in FakeLlama.instances)


def test_a_fixed_n_ctx_is_the_window() -> None:
    made = client(n_ctx=2048, max_tokens=100)
    assert made.capabilities.context_window == 2048
    made.chat_sync(QUESTION)
    assert FakeLlama.instances[0].n_ctx() == 2048
    with pytest.raises(ContextWindowExceeded):
        made.chat_sync(words(2000))


def test_context_size_is_a_power_of_two_within_bounds() -> None:
    assert context_size(10, 32768) == 4096
    assert context_size(4097, 32768) == 8192
    assert context_size(20000, 16384) == 16384
    assert context_size(100, 32768, minimum=2048) == 2048


def test_llama_cpp_errors_are_mapped() -> None:
    FakeLlama.script = [
        ValueError("Requested tokens (5000) exceed context window of 4096"),
        RuntimeError("llama_decode returned -1"),
    ]
    made = client()
    with pytest.raises(ContextWindowExceeded, match="exceed context window"):
        made.chat_sync(QUESTION)
    with pytest.raises(ProviderError, match=r"llama\.cpp failed"):
        made.chat_sync(QUESTION)


# --- prompt cache ----------------------------------------------------------------------


def test_a_repeated_prefix_is_reported_as_cached_input() -> None:
    FakeLlama.script = ["Paris"]
    made = client()
    document = words(200)
    made.chat_sync([Message.user(document + " first question")])
    again = made.chat_sync([Message.user(document + " second question")])

    # "<user>" + 200 words shared; the next word differs
    assert again.usage.cached_input_tokens == 201
    same = made.chat_sync([Message.user(document + " second question")])
    assert same.usage.cached_input_tokens == same.usage.input_tokens - 1


def test_reused_prefix_counts_the_ram_cache() -> None:
    prompt = [1, 2, 3, 4, 5]
    assert _reused_prefix([[1, 2, 9]], prompt) == 2
    assert _reused_prefix([[1, 2, 9], (1, 2, 3, 4, 7, 8)], prompt) == 4
    assert _reused_prefix([[1, 2, 3, 4, 5, 6]], prompt) == 4  # last token re-evaluated
    assert _reused_prefix([[]], prompt) == 0


def test_the_ram_cache_keeps_one_row_of_logits() -> None:
    client().chat_sync(QUESTION)
    cache = FakeLlama.instances[0].cache
    logits = [[0.5] * 8 for _ in range(512)]  # n_batch rows of n_vocab, as saved
    cache[[1, 2, 3]] = types.SimpleNamespace(scores=logits, n_tokens=3)
    assert cache.cache_state[(1, 2, 3)].scores == [[0.5] * 8]


def test_the_ram_and_disk_caches_can_be_turned_off() -> None:
    client(prompt_cache_bytes=0, state_cache_bytes=0).chat_sync(QUESTION)
    assert FakeLlama.instances[0].cache is None


# --- states on disk ----------------------------------------------------------------------


def test_another_process_restores_a_shared_prefix_from_disk() -> None:
    FakeLlama.script = ["Paris"]
    document = words(300)
    first = client().chat_sync([Message.user(document + " first question")])
    assert first.usage.cached_input_tokens == 0
    unload_models()  # as a new process: the model, its context and its RAM cache are gone

    again = client().chat_sync([Message.user(document + " second question")])
    assert len(FakeLlama.instances) == 2 and len(FakeLlama.instances[1].loaded) == 1
    assert again.usage.cached_input_tokens == 301  # "<user>" and the document


def test_a_state_in_ram_or_the_context_is_not_read_from_disk_again() -> None:
    FakeLlama.script = ["Paris"]
    made = client()
    made.chat_sync([Message.user(words(300) + " first")])
    made.chat_sync([Message.user(words(300) + " second")])
    assert FakeLlama.instances[0].loaded == []  # the context held the prefix already


def test_only_a_call_that_read_much_that_was_new_saves_a_state(tmp_path: Path) -> None:
    FakeLlama.script = ["Paris"]
    made = client(state_cache_dir=tmp_path)
    store = LruStore(tmp_path / "states.sqlite", 1 << 30)
    made.chat_sync([Message.user(words(300) + " first")])
    assert store.usage()[0] == 1
    made.chat_sync([Message.user(words(300) + " second")])  # 3 new tokens
    unload_models()
    client(state_cache_dir=tmp_path).chat_sync([Message.user(words(300) + " third")])
    assert store.usage()[0] == 1  # restored, and nothing new worth saving
    made.chat_sync([Message.user(words(300, start=500))])
    assert store.usage()[0] == 2


def test_states_on_disk_can_be_turned_off_and_go_where_told(tmp_path: Path) -> None:
    FakeLlama.script = ["Paris"]
    client(state_cache_bytes=0).chat_sync([Message.user(words(300) + " first")])
    unload_models()
    again = client().chat_sync([Message.user(words(300) + " second")])
    assert again.usage.cached_input_tokens == 0
    unload_models()

    client(state_cache_dir=tmp_path / "mine").chat_sync([Message.user(words(300))])
    assert (tmp_path / "mine" / "states.sqlite").is_file()


def test_states_are_keyed_by_the_model_file_not_its_name(pack: Path, tmp_path: Path) -> None:
    FakeLlama.script = ["Paris"]
    client().chat_sync([Message.user(words(300) + " first")])
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(pack.read_bytes())
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF other weights")

    def second_question(path: Path) -> int:
        unload_models()
        reply = LlamaCppClient(str(path)).chat_sync([Message.user(words(300) + " second")])
        return reply.usage.cached_input_tokens

    assert second_question(copy) == 301
    assert second_question(other) == 0


# --- models and packs ----------------------------------------------------------------


def test_a_pack_not_pulled_is_pulled_on_first_use(
    pack: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    content = pack.read_bytes()
    pack.unlink()
    pulled = []

    def fake_pull(name: str, *, progress: Any = None, **kwargs: Any) -> Path:
        pulled.append((name, progress))
        pack.write_bytes(content)
        return pack

    monkeypatch.setattr(models, "pull", fake_pull)
    made = client()  # building a client downloads nothing
    assert pulled == []
    made.chat_sync(QUESTION)

    assert [name for name, _ in pulled] == [PACK] and callable(pulled[0][1])
    assert FakeLlama.instances[0].model_path == str(pack)


def test_pull_false_makes_a_missing_pack_an_error(pack: Path) -> None:
    pack.unlink()
    with pytest.raises(models.ModelPackError, match="minions models pull fake-pack"):
        client(pull=False).chat_sync(QUESTION)


def test_any_gguf_path_works(tmp_path: Path) -> None:
    model = tmp_path / "own.gguf"
    model.write_bytes(b"not a real header")
    made = get_client(f"llamacpp:{model}")

    assert made.capabilities.context_window == 4096  # header unreadable: assumed
    made.chat_sync(QUESTION)
    assert FakeLlama.instances[0].model_path == str(model)


def test_bad_model_names_fail_when_the_client_is_built(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        get_client(f"llamacpp:{tmp_path / 'missing.gguf'}")
    with pytest.raises(ConfigurationError, match=r"qwen2\.5-coder-0\.5b"):
        get_client("llamacpp:gpt-5")
    with pytest.raises(ConfigurationError, match="needs a model"):
        get_client("llamacpp:")


def test_missing_llama_cpp_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # import fails
    with pytest.raises(MissingDependencyError) as caught:
        get_client(f"llamacpp:{PACK}")
    message = str(caught.value)
    assert "pip install 'minions[embedded]'" in message and "compiles" in message


def test_openmp_threads_spin_briefly_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    client()
    assert os.environ["GOMP_SPINCOUNT"] == "1000"

    monkeypatch.setenv("GOMP_SPINCOUNT", "5")
    client()
    assert os.environ["GOMP_SPINCOUNT"] == "5"

    monkeypatch.delenv("GOMP_SPINCOUNT")
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    client()
    assert "GOMP_SPINCOUNT" not in os.environ


def test_models_load_without_the_extra_cpu_buffer_types(
    llama_cpp: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AMX repacking that crashed llama.cpp on a CPU with AMX is off at load time,
    and llama_cpp's own defaults are left as they were. The low-level module is found
    by its name: after another test imported the real package and it was imported
    again, the package had no ``llama`` attribute, the switch was skipped and the first
    decode crashed."""
    low = types.ModuleType("llama_cpp.llama_cpp")

    def defaults() -> types.SimpleNamespace:
        return types.SimpleNamespace(use_extra_bufts=True)

    low.llama_model_default_params = defaults
    seen: list[bool] = []

    class Reading(FakeLlama):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen.append(low.llama_model_default_params().use_extra_bufts)  # as Llama() does
            super().__init__(*args, **kwargs)

    llama_cpp.Llama = Reading  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llama_cpp.llama_cpp", low)  # no llama_cpp.llama
    client().chat_sync(QUESTION)

    assert seen == [False]
    assert low.llama_model_default_params is defaults
