"""The local and remote model pickers of the sidebar, and the clients they make.

A pick is a :class:`ModelChoice`: a client spec plus constructor arguments (an API key
typed into a password field goes only there, never into a label, a log, a Result or
a file). ``status()`` says, before a run starts, whether it is ready and, if not, what
is missing and the one thing to do (:class:`Status`): pull a pack, paste a key, start
Ollama.

Tests and the browser check replace the models with their own clients through the
``MINIONS_APP_CLIENTS`` environment variable: ``path/to/file.py:function`` or
``package.module:function``, a function that takes ``"local"`` or ``"remote"`` and
returns a :class:`~minions.clients.Client`. When it is set, both pickers offer (and
start on) "injected clients"; otherwise that choice does not exist.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import streamlit as st

from minions import models
from minions.api import (
    DEFAULT_LOCAL,
    KEYED_REMOTES,
    OFFLINE_PRICE_AS,
    OFFLINE_REMOTE,
    default_remote,
)
from minions.clients import Client, capabilities_of, get_client, parse_spec, runs_locally
from minions.errors import ConfigurationError, MinionsError, one_line

logger = logging.getLogger(__name__)

INJECT_ENV = "MINIONS_APP_CLIENTS"
INJECTED = "injected clients"
Role = Literal["local", "remote"]
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
KEY_HELP = "Used for this session's runs only: never written to disk, logs or downloads."


@dataclass(frozen=True)
class Status:
    """Whether a setup step is ready; if not, what is missing and what to do."""

    ready: bool
    #: one sentence: what is there, or what is missing and how to fix it
    text: str
    #: what Run waits for, in a few words ("pull qwen2.5-coder-0.5b")
    todo: str = ""
    #: the pack a Pull button fetches
    pull: str | None = None
    #: offer a "Check again" button (something outside the app must change)
    recheck: bool = False


def _gb(size: int) -> str:
    return f"{size / 1e9:.1f} GB"


def pack_size(name: str) -> str:
    """A pack's download size, ``0.5 GB``."""
    return _gb(models.get_pack(name).size)


@dataclass(frozen=True)
class ModelChoice:
    """A model picked in the setup checklist."""

    role: Role
    spec: str
    #: constructor arguments (may hold an API key: kept out of repr)
    options: dict[str, Any] = field(default_factory=dict, repr=False)
    #: the environment variable that holds the key, when the provider needs one
    key_env: str | None = None
    injected: bool = False
    #: why the picked model cannot be reached (e.g. no Ollama server), found by the picker
    unavailable: str | None = None

    @property
    def pack(self) -> str | None:
        """The offline pack this choice runs on, if any."""
        return models.pack_of(self.spec)

    @property
    def default_price_as(self) -> str | None:
        """Local and injected remotes cost $0; price them as a cloud model."""
        if self.role == "remote" and (self.injected or runs_locally(self.spec)):
            return OFFLINE_PRICE_AS
        return None

    def status(self) -> Status:
        """Whether this choice can run; if not, the one thing to do about it."""
        if self.injected:
            return Status(True, f"Test clients from {INJECT_ENV}={os.environ.get(INJECT_ENV)}.")
        if self.unavailable:
            return Status(False, self.unavailable, f"start the {self.role} model", recheck=True)
        try:
            provider, model = parse_spec(self.spec)
            capabilities_of(self.spec)
        except ConfigurationError as exc:
            return Status(False, one_line(str(exc)), f"fix the {self.role} model's name")
        if not model and provider != "scripted":
            return Status(False, "Type the model's name.", f"name the {self.role} model")
        if self.key_env and not self.options.get("api_key") and not os.environ.get(self.key_env):
            return Status(
                False,
                f"Needs an API key: paste it above, or set {self.key_env} before starting the app.",
                f"add an API key for the {self.role} model",
            )
        pack = self.pack
        if pack is None:
            return Status(True, f"{self.spec}, ready.")
        state = models.pack_status(pack)
        size = _gb(state.pack.size)
        if state.state == "not pulled":
            return Status(
                False, f"{pack} is not on this machine yet ({size}, downloaded once).",
                f"pull {pack}", pull=pack,
            )  # fmt: skip
        if state.state == "corrupt":
            detail = f" ({state.detail})" if state.detail else ""
            return Status(
                False, f"{pack} is damaged{detail}: pull it again.", f"pull {pack}", pull=pack
            )
        return Status(True, f"{pack} is on this machine ({size}) and runs here.")

    def make_client(self) -> Client:
        """A fresh client (raises :class:`~minions.errors.MinionsError` with a hint)."""
        if self.injected:
            return load_factory(os.environ[INJECT_ENV])(self.role)
        return get_client(self.spec, **self.options)


def load_factory(target: str) -> Callable[[Role], Client]:
    """The client factory named by ``file.py:function`` or ``module:function``."""
    where, _, name = target.rpartition(":")
    if not where or not name:
        raise ConfigurationError(f"{INJECT_ENV}={target!r} must look like 'file.py:function'")
    if where.endswith(".py"):
        spec = importlib.util.spec_from_file_location("minions_app_injected", where)
        if spec is None or spec.loader is None:
            raise ConfigurationError(f"{INJECT_ENV}: cannot load {where}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(where)
    factory: Callable[[Role], Client] = getattr(module, name)
    return factory


def _injected_choices() -> list[str]:
    return [INJECTED] if os.environ.get(INJECT_ENV) else []


# --- local -------------------------------------------------------------------------


def ollama_host() -> str:
    return os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST


@st.cache_data(ttl=30, show_spinner=False)
def ollama_models(host: str) -> list[str] | str:
    """The models an Ollama server at ``host`` has, or why there are none to list."""
    try:
        import ollama
    except ImportError:
        return "The ollama package is not installed: pip install 'minions[ollama]', then restart."
    try:
        listed = ollama.Client(host=host, timeout=2).list()
    except Exception as exc:  # any failure means: nothing usable answers there
        logger.debug("listing Ollama models at %s failed: %r", host, exc)
        return (
            f"There is no Ollama server at {host}: start it with `ollama serve` (or set "
            "OLLAMA_HOST to where it runs), then check again."
        )
    found = sorted(m.model for m in listed.models if m.model)
    if not found:
        return (
            f"The Ollama server at {host} has no models yet: run `ollama pull qwen2.5:3b`, "
            "then check again."
        )
    return found


def _pack_label(name: str) -> str:
    status = models.pack_status(name)
    return f"{name} ({status.pack.size / 1e9:.1f} GB, {status.state})"


def pick_local() -> ModelChoice:
    """The local model picker of the setup checklist."""
    kinds = [*_injected_choices(), "offline pack", "Ollama", "typed spec"]
    kind = st.selectbox("Runs with", kinds, key="local.kind")
    if kind == INJECTED:
        return ModelChoice("local", "injected:local", injected=True)
    if kind == "offline pack":
        packs = list(models.PACKS)
        default = packs.index(models.pack_of(DEFAULT_LOCAL) or packs[0])
        pack = st.selectbox(
            "Pack", packs, index=default, format_func=_pack_label, key="local.pack",
            help="GGUF models run in this process by llama.cpp (minions[embedded]).",
        )  # fmt: skip
        return ModelChoice("local", f"llamacpp:{pack}")
    if kind == "Ollama":
        host = ollama_host()
        found = ollama_models(host)
        if isinstance(found, str):
            model = st.text_input("Ollama model", "qwen2.5:3b", key="local.ollama_typed")
            return ModelChoice("local", f"ollama:{model}", {"host": host}, unavailable=found)
        model = st.selectbox(f"Ollama model at {host}", found, key="local.ollama") or ""
        return ModelChoice("local", f"ollama:{model}", options={"host": host})
    spec = st.text_input(
        "Local spec", DEFAULT_LOCAL, key="local.spec", help="provider:model; see `minions models`"
    )
    return _typed("local", spec)


def _typed(role: Role, spec: str) -> ModelChoice:
    """A typed ``provider:model``; the key variable is the provider's, if it needs one."""
    spec = spec.strip()
    try:
        capabilities = capabilities_of(spec)
    except MinionsError:  # status() says what is wrong with it
        return ModelChoice(role, spec)
    return ModelChoice(role, spec, key_env=capabilities.key_env if capabilities.needs_key else None)


# --- remote ------------------------------------------------------------------------

#: the sidebar's names of the providers of the library's default remotes
PROVIDER_LABELS = {"openai": "OpenAI", "anthropic": "Anthropic"}


def _label(spec: str) -> str:
    provider = parse_spec(spec)[0]
    return PROVIDER_LABELS.get(provider, provider)


#: a kind for each default remote (``KEYED_REMOTES``), in the library's order: label -> spec
KEYED_KINDS = {_label(spec): spec for spec in KEYED_REMOTES}
STAND_IN = "offline stand-in"
REMOTE_KINDS = [*KEYED_KINDS, "OpenAI-compatible server", STAND_IN, "typed spec"]


def _default_remote_kind() -> str:
    """The kind of :func:`minions.api.default_remote` (the library's rule)."""
    if os.environ.get(INJECT_ENV):
        return INJECTED
    remote = default_remote()
    return next((kind for kind, spec in KEYED_KINDS.items() if spec == remote), STAND_IN)


def _keyed_remote(label: str, spec: str) -> ModelChoice:
    """A model of a provider that takes an API key; the key variable is the provider's."""
    provider, model = parse_spec(spec)
    capabilities = capabilities_of(spec)
    model = st.text_input(f"{label} model", model, key=f"remote.{provider}")
    key_env = capabilities.key_env if capabilities.needs_key else None
    options = _api_key(label, capabilities.key_env)
    return ModelChoice("remote", f"{provider}:{model}", options, key_env=key_env)


def _api_key(provider: str, env: str | None) -> dict[str, str]:
    """A password field; the key goes to the client only (env var when left blank)."""
    found = env and os.environ.get(env)
    key = st.text_input(
        f"{provider} API key",
        type="password",
        placeholder=f"from {env}" if found else "paste a key",
        help=KEY_HELP,
        key=f"remote.{provider}.key",
    )
    return {"api_key": key} if key else {}


def pick_remote() -> ModelChoice:
    """The remote model picker of the setup checklist."""
    kinds = [*_injected_choices(), *REMOTE_KINDS]
    kind = st.selectbox(
        "Provider", kinds, index=kinds.index(_default_remote_kind()), key="remote.kind"
    )
    if kind == INJECTED:
        return ModelChoice("remote", "injected:remote", injected=True)
    if kind in KEYED_KINDS:
        return _keyed_remote(kind, KEYED_KINDS[kind])
    if kind == "OpenAI-compatible server":
        base_url = st.text_input("Base URL", "http://localhost:8000/v1", key="remote.base_url")
        model = st.text_input("Model", key="remote.compatible")
        options = {"base_url": base_url, **_api_key("Server", None)}
        return ModelChoice("remote", f"openai:{model}", options)
    if kind == STAND_IN:
        st.caption(
            f"{OFFLINE_REMOTE}: a 1.5B model on this machine, nowhere near a frontier "
            "model; for trying the app without a key."
        )
        return ModelChoice("remote", OFFLINE_REMOTE)
    spec = st.text_input(
        "Remote spec",
        KEYED_REMOTES[0],
        key="remote.spec",
        help="provider:model; see `minions models`",
    )
    return _typed("remote", spec)


def pull_pack(name: str) -> Path:
    """Pull an offline pack with a progress bar on the page."""
    bar = st.progress(0.0, text=f"pulling {name}")

    def update(event: models.PullProgress) -> None:
        bar.progress(min(event.done / max(event.total, 1), 1.0), text=event.description)

    path = models.pull(name, progress=update)
    bar.progress(1.0, text=f"{name} is ready")
    return path
