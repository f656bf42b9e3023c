"""``llamacpp:`` — a GGUF model run in this process by llama.cpp (llama-cpp-python).

    client = get_client("llamacpp:qwen2.5-coder-0.5b")   # an offline pack, pulled on first use
    client = get_client("llamacpp:/models/any.gguf")     # or any GGUF file

How it runs:

* **One model per file per process, one call at a time.** Every client of the same
  file shares one ``llama_cpp.Llama``. All llama.cpp work of the process runs on one
  worker thread, off the event loop, one call at a time; callers queue up. A context
  is not thread-safe, and each call already uses every core (``n_threads``): two
  models computing at once would only slow each other down, badly, since llama.cpp's
  threads spin while they wait for a core.
* **Context sized to need.** The first load makes ``n_ctx`` the next power of two
  that holds the prompt plus the reply budget (at least 4096). A later request that
  needs more reloads the model with a larger ``n_ctx``, up to the model's trained
  context (read from the GGUF header). A request larger than that raises
  :class:`ContextWindowExceeded` before any work. ``n_ctx=`` fixes the size instead.
* **Prompt cache.** llama.cpp keeps the evaluated tokens between calls and reuses the
  longest shared prefix, so consecutive calls on the same document read it once.
  A RAM cache of saved states (``prompt_cache_bytes``, 1 GiB by default) also serves
  a prefix seen some calls ago, e.g. a chunk revisited in a later round; saving a
  state costs a fraction of a second per call. ``cached_input_tokens`` reports the
  prefix reused either way.
* **States on disk.** The state after each prompt is also saved to disk
  (``state_cache_bytes``, 2 GiB by default, in ``$MINIONS_STATE_CACHE`` or the cache
  dir's ``llama-states/``; :mod:`minions.clients._llama_states`), keyed by its tokens
  and the model file, so another question about the same chunk, in this process or a
  later one, evaluates only what follows the chunk.
* **The same request, the same reply.** A call without a ``seed`` samples with
  :data:`DEFAULT_SEED`, not with llama-cpp-python's own, which follows from every call
  the process made before and from the states it restored; and prompts are evaluated in
  batches aligned from their first token (:mod:`minions.clients._llama_aligned`), so a
  reply does not depend on what the prompt cache held. (Measured on the demo before:
  the same command answered "1,577", "$380.10" and "59" as the caches filled.)
* **Structured output.** A schema becomes a llama.cpp grammar
  (``response_format={"type": "json_object", "schema": ...}``): the reply is
  JSON of that shape by construction (unless it is cut off at ``max_tokens``). A
  schema llama.cpp cannot turn into a grammar falls back to any JSON; the reply is
  validated against the schema either way (``Completion.parse_error``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import inspect
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from minions import models
from minions.clients import _llama_aligned, _llama_states
from minions.clients.base import (
    Capabilities,
    Client,
    SchemaT,
    approx_message_tokens,
    as_messages,
    check_fits,
    json_schema,
    make_completion,
)
from minions.errors import (
    ConfigurationError,
    ContextWindowExceeded,
    MissingDependencyError,
    ProviderError,
)
from minions.types import Completion, Message, Usage

logger = logging.getLogger(__name__)

#: smallest context a model is loaded with
MIN_N_CTX = 4096
#: the window assumed for a GGUF file whose header does not say
FALLBACK_CONTEXT_WINDOW = 4096
#: tokens a chat template adds: per message (role markers) and once (default system
#: prompts, the assistant header)
TEMPLATE_TOKENS_PER_MESSAGE = 8
TEMPLATE_TOKENS_FIXED = 32
#: RAM for saved prompt states (llama_cpp.LlamaRAMCache), so a prompt whose prefix
#: was seen a few calls ago, not just in the last one, is not read again
DEFAULT_PROMPT_CACHE_BYTES = 1 << 30
#: the seed of a call that names none (see the module: the same request, the same reply)
DEFAULT_SEED = 0
#: create_chat_completion arguments the client sets itself
_RESERVED = frozenset({"self", "messages", "response_format", "stream", "max_tokens"})


def _llama_cpp() -> Any:
    # llama.cpp's CPU threads are OpenMP (libgomp) threads, which by default spin
    # 300,000 times at each barrier before they sleep. When other processes want the
    # cores, spinning threads starve the ones with work. Measured on 2 cores (2
    # threads): next to two busy processes, 40 tokens of Qwen2.5-0.5B took over 60 s
    # by default, 3 s with a spin count of 1,000; next to another llama.cpp process,
    # SmolLM2 replies took 0.6-1.9 s at 1,000, 3-8 s at 10,000, 0.35-1.3 s passive.
    # On idle cores 1,000 is as fast as the default (41 tokens/s) and passive waiting
    # 20% slower. libgomp reads this when it loads, i.e. on the first import; a
    # user's own OpenMP settings win.
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "1000")
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError(
            "llama-cpp-python",
            "embedded",
            "The llamacpp: provider (its install compiles llama.cpp from source and "
            "takes a few minutes)",
        ) from exc
    return llama_cpp


@contextlib.contextmanager
def _plain_cpu_buffers(llama_cpp: Any) -> Iterator[None]:
    """Load with llama.cpp's "extra" CPU buffer types off (``use_extra_bufts=False``),
    which ``Llama()`` does not expose. With them on, a CPU that has AMX gets its
    weights repacked for ggml's AMX kernel, and that kernel crashed the process
    (SIGSEGV in ggml_backend_amx_mul_mat on the first decode; llama-cpp-python 0.3.36
    built from source on a Xeon with amx_tile/amx_int8). Off, the same machine read
    630 prompt tokens of Qwen2.5-0.5B in under 3 s."""
    # the module Llama() takes its defaults from, by its name: a package imported again
    # (its submodules still in sys.modules) has no ``llama`` attribute to reach it by
    low: Any = sys.modules.get(f"{llama_cpp.__name__}.llama_cpp")
    default = getattr(low, "llama_model_default_params", None)
    if default is None:
        yield
        return

    def plain() -> Any:
        params = default()
        if hasattr(params, "use_extra_bufts"):
            params.use_extra_bufts = False
        return params

    low.llama_model_default_params = plain
    try:
        yield
    finally:
        low.llama_model_default_params = default


def usable_cpus() -> int:
    """CPUs this process may run on (its CPU affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def context_size(needed: int, limit: int, minimum: int = MIN_N_CTX) -> int:
    """The next power of two holding ``needed`` tokens, at least ``minimum``, at most
    ``limit``. Powers of two keep reloads (which drop the prompt cache) to a few."""
    size = max(minimum, 1 << max(0, needed - 1).bit_length())
    return min(size, limit)


@dataclass(frozen=True)
class LoadSettings:
    """How a model file is loaded; the first client of a file decides them."""

    n_threads: int
    verbose: bool = False
    prompt_cache_bytes: int = DEFAULT_PROMPT_CACHE_BYTES
    state_cache_bytes: int = _llama_states.DEFAULT_MAX_BYTES
    #: None: ``$MINIONS_STATE_CACHE`` or the cache dir, looked up at each load
    state_cache_dir: Path | None = None

    def state_store(self) -> _llama_states.StateStore | None:
        folder = self.state_cache_dir or _llama_states.default_folder()
        if folder is None or self.state_cache_bytes <= 0:
            return None
        return _llama_states.StateStore(folder, self.state_cache_bytes)


def _prompt_cache(
    llama_cpp: Any, shared: _SharedModel, capacity_bytes: int, disk: _llama_states.StateStore | None
) -> Any:
    """The model's prompt cache: saved states in RAM (a ``LlamaRAMCache``) and, with
    ``disk``, on disk.

    A RAM entry keeps the KV state but one row of the logits. Stock, every saved state
    also holds a copy of the whole logits buffer (n_batch x n_vocab floats: 100 MB for
    SmolLM2, 311 MB for Qwen2.5) that the capacity does not count, so memory grows far
    past it (measured: +120 MB a call on SmolLM2). A restored state is evaluated again
    from its last token before sampling, so those logits are never read.

    ``Llama`` asks the cache for the state with the longest prefix of each prompt and
    restores it when it beats the context; a state on disk is read only when it beats
    both the context and RAM. ``served`` is the tokens of the state handed out last.
    After the call the new state goes to disk only when the call evaluated at least
    ``MIN_TOKENS`` tokens no state held (a second question about a chunk adds nothing
    the first one's state does not give).
    """

    class PromptCache(llama_cpp.LlamaRAMCache):
        served: Sequence[int] = ()
        #: prompt tokens the last call found in the context or a saved state
        reused = 0

        def __getitem__(self, key: Sequence[int]) -> Any:
            prompt = tuple(key)
            in_ram = self._find_longest_prefix_key(prompt)
            best = max(
                _shared_prefix(_evaluated(shared.llama), prompt),
                _shared_prefix(in_ram, prompt) if in_ram is not None else 0,
            )
            self.reused = best
            if disk is not None:
                state = disk.restore(
                    shared.scope, prompt, shared.n_ctx, best + _llama_states.MIN_GAIN - 1
                )
                if state is not None:
                    self.served = state.tokens
                    self.reused = _shared_prefix(self.served, prompt)
                    return state
            if in_ram is None:
                raise KeyError("no saved state shares a prefix with the prompt")
            self.cache_state.move_to_end(in_ram)
            self.served = in_ram
            return self.cache_state[in_ram]

        def __setitem__(self, key: Sequence[int], state: Any) -> None:
            key, state = _llama_aligned.canonical_state(shared.llama, key, state)
            state.scores = state.scores[:1].copy()
            if disk is not None and state.n_tokens - self.reused >= _llama_states.MIN_TOKENS:
                disk.save(shared.scope, state, shared.n_ctx)
            super().__setitem__(key, state)

    return PromptCache(capacity_bytes)


#: the one thread all llama.cpp work runs on
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")


class _SharedModel:
    """One model file and its ``Llama``, loaded lazily and reloaded larger when a
    request needs more context. Used only on the worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.llama: Any = None
        self.n_ctx = 0
        self._scope = ""

    @property
    def scope(self) -> str:
        """What the model's saved states are keyed by: the model file and the llama.cpp
        build (:func:`minions.clients._llama_states.model_identity`)."""
        if not self._scope:
            version = getattr(_llama_cpp(), "__version__", "?")
            runtime = f"llama-cpp-python {version}, prompts in aligned batches"
            self._scope = _llama_states.model_identity(self.path, runtime)
        return self._scope

    def ensure(self, needed: int, size: int, settings: LoadSettings) -> Any:
        """The model with room for ``needed`` tokens, (re)loaded at ``size`` if not."""
        if self.llama is not None and self.n_ctx >= needed:
            return self.llama
        if self.llama is not None:
            logger.info("reloading %s with n_ctx=%d (was %d)", self.path.name, size, self.n_ctx)
            self.close()
        started = time.perf_counter()
        llama_cpp = _llama_cpp()
        try:
            # llama-cpp-python's Llama, made to evaluate prompts in aligned batches
            # (a stand-in without generate() is used as it is)
            llama_class = llama_cpp.Llama
            if hasattr(llama_class, "generate"):
                llama_class = _llama_aligned.aligned_llama(llama_class)
            with _plain_cpu_buffers(llama_cpp):
                self.llama = llama_class(
                    model_path=str(self.path),
                    n_ctx=size,
                    n_threads=settings.n_threads,
                    n_threads_batch=settings.n_threads,
                    verbose=settings.verbose,
                )
        except (ValueError, RuntimeError) as exc:
            raise ProviderError(
                f"llama.cpp could not load {self.path} ({exc}); if it is a pack, fetch it "
                "again with `minions models pull <pack> --force`, otherwise check that it "
                "is a GGUF model this llama-cpp-python supports",
                provider="llamacpp",
            ) from exc
        self.n_ctx = int(self.llama.n_ctx())
        disk = settings.state_store()
        if settings.prompt_cache_bytes > 0 or disk is not None:
            cache = _prompt_cache(llama_cpp, self, settings.prompt_cache_bytes, disk)
            self.llama.set_cache(cache)
        logger.info(
            "loaded %s with n_ctx=%d in %.1fs", self.path.name, self.n_ctx,
            time.perf_counter() - started,
        )  # fmt: skip
        return self.llama

    def close(self) -> None:
        if self.llama is not None:
            self.llama.close()
        self.llama = None
        self.n_ctx = 0


_shared: dict[Path, _SharedModel] = {}
_shared_lock = threading.Lock()


def _shared_model(path: Path) -> _SharedModel:
    key = path.resolve()
    with _shared_lock:
        if key not in _shared:
            _shared[key] = _SharedModel(key)
        return _shared[key]


def unload_models() -> None:
    """Free every model loaded in this process (the next call loads it again)."""
    with _shared_lock:
        shared = list(_shared.values())
        _shared.clear()
    for model in shared:
        _worker.submit(model.close).result()


@atexit.register
def _close_at_exit() -> None:
    # Free the models while llama_cpp's module globals still exist: left to
    # Llama.__del__ during interpreter teardown, freeing fails with a traceback.
    # The worker thread has finished by now, so closing here is safe.
    with _shared_lock:
        for model in _shared.values():
            model.close()


def _prompt_tokens(llama: Any, messages: Sequence[Message]) -> int:
    """The prompt's size by the model's tokenizer plus a margin for the chat template."""
    content = sum(
        len(llama.tokenize(m.content.encode("utf-8"), add_bos=False, special=False))
        for m in messages
    )
    return content + TEMPLATE_TOKENS_PER_MESSAGE * len(messages) + TEMPLATE_TOKENS_FIXED


def _shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += 1
    return shared


def _evaluated(llama: Any) -> list[int]:
    """The tokens the context holds now (``Llama.input_ids[:n_tokens]``)."""
    try:
        return [int(t) for t in llama.input_ids[: llama.n_tokens]]
    except (AttributeError, TypeError):
        return []


def _reused_prefix(candidates: list[Sequence[int]], prompt: Sequence[int]) -> int:
    """Prompt tokens llama.cpp took from a cache: the longest prefix ``prompt`` shares
    with a candidate, less the one token it evaluates again when the whole prompt
    matches (as ``Llama.generate`` does)."""
    shared = max((_shared_prefix(c, prompt) for c in candidates), default=0)
    return shared - 1 if shared and shared == len(prompt) else shared


class LlamaCppClient(Client):
    provider: ClassVar[str] = "llamacpp"
    #: one call at a time: the process's llama.cpp work shares one worker thread
    defaults: ClassVar[Capabilities] = Capabilities(
        local=True,
        max_parallel_requests=1,
        seeded_by_default=True,  # DEFAULT_SEED, and prompts read in aligned batches
        examples=("llamacpp:PACK (see `minions models list`)", "llamacpp:/path/to/model.gguf"),
    )

    def __init__(
        self,
        model: str,
        *,
        n_ctx: int | None = None,
        n_threads: int | None = None,
        context_window: int | None = None,
        max_tokens: int = 2048,
        prompt_cache_bytes: int = DEFAULT_PROMPT_CACHE_BYTES,
        state_cache_bytes: int = _llama_states.DEFAULT_MAX_BYTES,
        state_cache_dir: str | Path | None = None,
        verbose: bool = False,
        pull: bool = True,
    ) -> None:
        """``model`` is a pack name (``minions models list``) or a GGUF file path.

        ``n_ctx`` fixes the context size (default: sized to each request);
        ``n_threads`` defaults to the usable CPUs; ``context_window`` caps the window
        below the model's trained one; ``max_tokens`` is the reply budget when a call
        sets none; ``prompt_cache_bytes`` bounds the RAM prompt cache (0 turns it
        off); ``state_cache_bytes`` bounds the states kept on disk (0 turns it off) in
        ``state_cache_dir`` (default ``$MINIONS_STATE_CACHE`` or the cache dir's
        ``llama-states/``); ``verbose`` lets llama.cpp log to stderr; ``pull=False``
        makes a pack that is not in the cache an error instead of a download. A model
        shared with an earlier client keeps the ``n_threads``, cache settings and
        ``verbose`` that client loaded it with.
        """
        if not model:
            raise ConfigurationError(
                "llamacpp: needs a model: a pack such as 'llamacpp:qwen2.5-coder-0.5b' "
                f"(packs: {', '.join(models.PACKS)}) or 'llamacpp:/path/to/model.gguf'"
            )
        _llama_cpp()
        self.model = model
        self.load_settings = LoadSettings(
            n_threads=n_threads or usable_cpus(),
            verbose=verbose,
            prompt_cache_bytes=prompt_cache_bytes,
            state_cache_bytes=state_cache_bytes,
            state_cache_dir=Path(state_cache_dir).expanduser() if state_cache_dir else None,
        )
        self.max_tokens = max_tokens
        self.pull = pull
        self.fixed_n_ctx = n_ctx
        self._path: Path | None = None
        trained = self._trained_context()
        window = min(w for w in (trained, context_window, n_ctx) if w)
        self.capabilities = self.defaults.derive(context_window=window)

    @property
    def identity(self) -> str:
        """The pack's sha256, or the GGUF file's path, size and time, and the reply
        budget a call without ``max_tokens`` gets."""
        if self.model in models.PACKS:
            source = models.PACKS[self.model].sha256
        else:
            path = models.resolve_model_path(self.model, pull_if_missing=False).resolve()
            stat = path.stat()
            source = f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
        return f"{self.spec}@{source} max_tokens={self.max_tokens}"

    def _trained_context(self) -> int:
        if self.model in models.PACKS:
            return models.PACKS[self.model].context_length
        path = models.resolve_model_path(self.model, pull_if_missing=False)
        found = models.gguf_context_length(path)
        if found is None:
            logger.warning(
                "%s: no context length in the GGUF header; assuming %d tokens",
                path, FALLBACK_CONTEXT_WINDOW,
            )  # fmt: skip
        return found or FALLBACK_CONTEXT_WINDOW

    def _resolve(self) -> Path:
        """The model file, pulling a pack the first time (concurrent first calls
        wait for one pull: ``models.pull`` holds a lock per pack)."""
        with models.default_progress() as progress:
            return models.resolve_model_path(
                self.model, pull_if_missing=self.pull, progress=progress
            )

    def _request_options(self, options: dict[str, Any], llama: Any) -> dict[str, Any]:
        parameters = inspect.signature(llama.create_chat_completion).parameters
        if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            return options
        accepted = set(parameters) - _RESERVED
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise ConfigurationError(
                f"llamacpp: unknown option(s) {', '.join(unknown)}; "
                f"create_chat_completion accepts {', '.join(sorted(accepted))}"
            )
        return options

    def _complete(
        self,
        shared: _SharedModel,
        messages: list[Message],
        schema: type[BaseModel] | None,
        max_tokens: int,
        options: dict[str, Any],
    ) -> tuple[dict[str, Any], int]:
        """Runs on the worker thread: size the context, call llama.cpp, and return
        the response with the number of prompt tokens served from the cache."""
        window = self.capabilities.context_window or FALLBACK_CONTEXT_WINDOW
        minimum = self.fixed_n_ctx or MIN_N_CTX
        # the tokenizer needs a loaded model: the first load is sized by an estimate
        estimate = approx_message_tokens(messages) + max_tokens
        llama = shared.ensure(1, context_size(estimate, window, minimum), self.load_settings)
        kwargs = self._request_options(options, llama)
        prompt_tokens = _prompt_tokens(llama, messages)
        check_fits(self.provider, self.model, prompt_tokens, max_tokens, window)
        needed = prompt_tokens + max_tokens
        size = context_size(needed, window, minimum)
        llama = shared.ensure(needed, size, self.load_settings)
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema(schema)}
        before = _evaluated(llama)  # what the context holds, and the state llama.cpp
        cache = getattr(llama, "cache", None)  # restores from the prompt cache, if any
        if cache is not None:
            cache.served = ()
        try:
            response = llama.create_chat_completion(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                max_tokens=max_tokens,
                **kwargs,
            )
        except ValueError as exc:
            if "context window" in str(exc):
                raise ContextWindowExceeded(
                    f"{exc}. Use a protocol that chunks the document (e.g. "
                    "protocol='minions'), smaller chunks, or a model with a larger window.",
                    provider=self.provider,
                ) from exc
            raise ProviderError(str(exc), provider=self.provider) from exc
        except RuntimeError as exc:
            raise ProviderError(f"llama.cpp failed: {exc}", provider=self.provider) from exc
        used_prompt = int(response.get("usage", {}).get("prompt_tokens") or 0)
        prompt = _evaluated(llama)[:used_prompt]
        aligned = getattr(llama, "reused_last", None)  # what it read again is not reused
        if aligned is not None:
            return response, min(aligned, len(prompt))
        served = getattr(cache, "served", ())
        return response, _reused_prefix([before, served], prompt)

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        schema: type[SchemaT] | None = None,
        **options: Any,
    ) -> Completion[SchemaT]:
        started = time.perf_counter()
        messages = as_messages(messages)  # a plain string is one user message
        options = dict(options)
        max_tokens = int(options.pop("max_tokens", None) or self.max_tokens)
        if options.get("seed") is None:
            options["seed"] = DEFAULT_SEED
        if self._path is None:
            self._path = await asyncio.to_thread(self._resolve)
        shared = _shared_model(self._path)
        work = functools.partial(self._complete, shared, messages, schema, max_tokens, options)
        response, cached = await asyncio.get_running_loop().run_in_executor(_worker, work)
        choice = response["choices"][0]
        text = choice["message"].get("content") or ""
        usage = response.get("usage") or {}
        return make_completion(
            text,
            schema=schema,
            usage=Usage(
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
                cached_input_tokens=cached,
                calls=1,
            ),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            started=started,
            model=self.model,
        )
