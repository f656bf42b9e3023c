"""What both pages of the app draw the same way: the sidebar's protocol settings, the
Run button with what it waits for, and actions whose failure is a message instead of
a traceback."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import streamlit as st

from minions.app import views
from minions.app.checklist import Setup
from minions.app.options import render_options
from minions.clients import Client
from minions.errors import MinionsError, one_line
from minions.protocol import available, get_protocol, make_config

logger = logging.getLogger(__name__)

DEFAULT_PROTOCOL = "minions"
#: seconds between redraws of what is running
POLL_S = 0.5
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """The sidebar's choices."""

    protocol: str
    options: dict[str, Any]
    options_error: str | None
    price_as: str | None


def guarded(what: str, action: Callable[[], T]) -> T | None:
    """``action()``, with any failure shown as a message instead of a traceback."""
    try:
        return action()
    except MinionsError as exc:
        st.error(views.md(f"{what} failed: {one_line(str(exc))}"))
    except Exception:
        logger.exception("%s failed", what)
        st.error(
            f"{what} failed on an unexpected problem. The app's log has the details; try "
            "again, and report it if it happens again."
        )
    return None


def make_clients(setup: Setup[Any]) -> tuple[Client, Client] | None:
    """The local and remote clients the checklist picked (None, with a message, when
    one cannot be made)."""
    return guarded(
        "Setting up the models", lambda: (setup.local.make_client(), setup.remote.make_client())
    )


def sidebar(default_price_as: str | None) -> Settings:
    """How the models work together: the protocol, its options and the pricing."""
    with st.sidebar:
        st.header("How the models work together")
        names = available()
        if not names:
            st.error("No protocols are registered: install minions with `pip install -e .`.")
            st.stop()
        protocol = st.selectbox(
            "Protocol", names, index=names.index(DEFAULT_PROTOCOL) if DEFAULT_PROTOCOL in names
            else 0, key="protocol", help="See `minions protocols` for what each one does.",
        )  # fmt: skip
        cls = get_protocol(protocol)
        st.caption(cls.summary)
        options = render_options(cls.Config, key_prefix=f"opt.{protocol}")
        options_error = None
        try:
            make_config(cls.Config, options, protocol)
        except MinionsError as exc:
            options_error = one_line(str(exc))
            st.error(views.md(options_error))
        with st.expander("Pricing"):
            typed = st.text_input(
                "Price remote usage as",
                key="price_as",
                placeholder=default_price_as or "the remote model's own prices",
                help="The provider:model whose prices the remote's tokens are billed at, e.g. "
                "openai:gpt-4o; blank for the remote's own. A remote on this machine costs "
                "$0, so it is priced as a cloud model to show what it would cost.",
            ).strip()
    return Settings(protocol, options, options_error, typed or default_price_as)


def _and(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def run_button(waiting: list[str], busy: str | None, key: str) -> bool:
    """The Run button, disabled with the reason under it while something is missing
    (``waiting``: what to do, in a few words each) or while ``busy`` (what is going on);
    whether it was clicked."""
    reason = f"Run waits until you {_and(waiting)}." if waiting else busy or ""
    clicked = st.button("Run", type="primary", disabled=bool(reason), key=key, help=reason or None)
    if reason:
        st.caption(reason)
    return clicked and not reason
